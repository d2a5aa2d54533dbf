"""One training loop for both models: in-memory tensors, index-sliced batches, eval-mode metrics per epoch."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config
from .data import FashionMNIST, Split, load_fashion_mnist
from .models import build_model, count_parameters
from .provenance import git_commit, machine

# Images per evaluation batch. On this project's 2-core CPU, 500 evaluated ~1.7x faster than 2000 (activations that
# stay in cache); a GPU wants large batches.
EVAL_BATCH = {"cpu": 500, "cuda": 4096}


def _eval_batch(x: torch.Tensor) -> int:
    return EVAL_BATCH.get(x.device.type, 500)


class WeightsNotPublished(LookupError):
    """A run read from a results store that keeps no weights for it, asked for its model."""


@dataclass
class RunResult:
    """What one training run produced: per-epoch history, final weights, status and metadata."""

    config: Config
    history: dict[str, list[float]]
    status: str  # "ok" or "diverged"
    state: dict | None = field(repr=False)  # None: a run read from a results store that keeps no weights for it
    meta: dict = field(default_factory=dict)
    predictions: torch.Tensor | None = field(default=None, repr=False)  # classifier: final test predictions

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    def model(self) -> nn.Module:
        """The trained model, on the CPU, in eval mode; WeightsNotPublished for a stored run without weights."""
        model = build_model(self.config.replace(encoder="scratch") if self.config.model == "classifier"
                            else self.config)
        model.load_state_dict(self.weights())
        return model.eval()

    def encoder_state(self) -> dict:
        return {k.removeprefix("encoder."): v for k, v in self.weights().items() if k.startswith("encoder.")}

    def weights(self) -> dict:
        if self.state is None:
            raise WeightsNotPublished(
                f"the weights of run {self.config.label()} ({self.config.key()}) are not published: the results "
                f"store keeps its history, metadata and test predictions, and weights only where a figure needs "
                f"them; train the run to get them (fmnist_lib.train.fit with its config)")
        return self.state


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_optimizer(cfg: Config, params) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    # fused: one kernel for the whole update instead of a handful per parameter tensor; same arithmetic
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, fused=True)
    return torch.optim.SGD(params, lr=cfg.lr, fused=True)


def loss_fn(cfg: Config) -> nn.Module:
    return nn.MSELoss() if cfg.model == "autoencoder" else nn.CrossEntropyLoss()


def _layout(cfg: Config, x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if cfg.channels_last else x


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, cfg: Config, dropout: bool = False,
             predictions: bool = False) -> dict[str, float]:
    """Mean loss over a split, and for the classifier its accuracy and how many of the 10 classes it never predicts;
    eval mode unless `dropout` asks for the study's way of measuring (the model left in training mode, dropout
    on). With `predictions`, the predicted classes are returned too (under "pred", a uint8 tensor)."""
    was_training = model.training
    model.train(dropout)
    criterion = loss_fn(cfg)
    total, correct, batch, preds = 0.0, 0, _eval_batch(split.x), []
    for i in range(0, len(split), batch):
        x = _layout(cfg, split.x[i:i + batch])
        out = model(x)
        target = x if cfg.model == "autoencoder" else split.y[i:i + batch]
        total += criterion(out, target).item() * len(x)
        if cfg.model == "classifier":
            pred = out.argmax(1)
            correct += (pred == target).sum().item()
            preds.append(pred)
    model.train(was_training)
    result = {"loss": total / len(split)}
    if cfg.model == "classifier":
        pred = torch.cat(preds)
        result["acc"] = correct / len(split)
        result["unpredicted"] = int((torch.bincount(pred, minlength=10) == 0).sum())
        if predictions:
            result["pred"] = pred.to(torch.uint8).cpu()
    return result


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Model outputs for x in eval mode: reconstructions or logits."""
    model.eval()
    batch = _eval_batch(x)
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, criterion: nn.Module, train: Split, cfg: Config,
                shuffle: torch.Generator) -> float:
    """One pass over `train` in shuffled batches sliced from the in-memory tensors; the mean training loss."""
    model.train()
    total = torch.zeros((), device=train.x.device)  # summed on the device: no sync per batch
    for idx in torch.randperm(len(train), generator=shuffle).to(train.x.device).split(cfg.batch_size):
        x = _layout(cfg, train.x[idx])
        out = model(x)
        loss = criterion(out, x if cfg.model == "autoencoder" else train.y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
    return total.item() / len(train)


@dataclass
class Training:
    """One run in training: the model, its optimizer, the data on the device, and what an epoch's end leaves behind
    (history, RNG of the shuffle, epochs done), which a checkpoint saves."""

    cfg: Config
    device: torch.device
    model: nn.Module
    opt: torch.optim.Optimizer
    criterion: nn.Module
    shuffle: torch.Generator
    train: Split
    train_probe: Split
    val: Split
    test: Split
    history: dict[str, list[float]]
    predictions: torch.Tensor | None = None  # classifier: the last epoch's test predictions
    epoch: int = 0  # epochs done
    seconds: float = 0.0  # wall time of the epochs done before a resume
    # the commit the run started from (its first epoch's, when resumed): checked again at the end, so a run is
    # reproducible from one commit, or says it is not
    commit: str = ""
    # a pretrained classifier's autoencoder: the SHA-256 of its weights.pt, recorded in the checkpoint and the meta,
    # so a checkpoint of another copy of that autoencoder is not resumed and the store can check the pair
    encoder_sha256: str | None = None


def setup(cfg: Config, data: FashionMNIST | None, encoder_state: dict | None, device: torch.device) -> Training:
    """Data on the device, the seeded model and its optimizer, an empty history: a run before its first epoch."""
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    data = data or load_fashion_mnist(cfg.train_size, cfg.eval_size)
    train, val, test = (s.to(device) for s in (data.train, data.val, data.test))
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, encoder_state).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(cfg, model.parameters())
    criterion = loss_fn(cfg)
    shuffle = torch.Generator(device="cpu").manual_seed(cfg.seed)
    # the training loss in eval mode, on a fixed part of the training split as large as the validation split: the
    # generalization gap is val_loss - train_eval_loss (train_loss is the running mean with dropout on)
    train_probe = Split(train.x[:len(val)], train.y[:len(val)])
    names = ["train_loss", "train_eval_loss", "val_loss", "test_loss"] + (
        ["train_eval_acc", "val_acc", "test_acc", "test_unpredicted"] if cfg.model == "classifier"
        else ["test_loss_dropout"])
    history = {k: [] for k in names + ["epoch_seconds"]}
    return Training(cfg, device, model, opt, criterion, shuffle, train, train_probe, val, test, history,
                    commit=git_commit())


def resume(t: Training, checkpoint: Path) -> bool:
    """Restore everything an epoch's end left in `checkpoint`, so the next epoch computes the same bits; False
    (starting from epoch 0) when there is no usable checkpoint."""
    saved = load_checkpoint(checkpoint, t.cfg, t.device, t.encoder_sha256, t.commit)
    if saved is None:
        return False
    t.model.load_state_dict(saved["model"])
    t.opt.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng"])
    if t.device.type == "cuda":
        torch.cuda.set_rng_state(saved["cuda_rng"], t.device)
    t.shuffle.set_state(saved["shuffle"])
    t.history, t.predictions = saved["history"], saved["predictions"]
    t.epoch, t.seconds = saved["epoch"], saved["seconds"]
    t.commit = saved.get("commit", "unknown (a checkpoint that did not record it)")
    return True


def run_epoch(t: Training) -> dict | None:
    """Train one epoch and measure it (eval mode; the test predictions at the last epoch); the history's row, or
    None when the training loss is not finite (diverged)."""
    cfg = t.cfg
    train_loss = train_epoch(t.model, t.opt, t.criterion, t.train, cfg, t.shuffle)
    if not math.isfinite(train_loss):
        return None
    last = t.epoch == cfg.epochs - 1
    tr, v, te = evaluate(t.model, t.train_probe, cfg), evaluate(t.model, t.val, cfg), \
        evaluate(t.model, t.test, cfg, predictions=last)
    row = {"train_loss": train_loss, "train_eval_loss": tr["loss"], "val_loss": v["loss"], "test_loss": te["loss"]}
    if cfg.model == "classifier":
        row |= {"train_eval_acc": tr["acc"], "val_acc": v["acc"], "test_acc": te["acc"],
                "test_unpredicted": te["unpredicted"]}
        t.predictions = te.get("pred")
    else:
        row["test_loss_dropout"] = evaluate(t.model, t.test, cfg, dropout=True)["loss"]
    return row


def checkpoint_state(t: Training, seconds: float) -> dict:
    """What an epoch checkpoint holds: everything resume() restores."""
    return {"key": t.cfg.key(), "device": t.device.type, "epoch": t.epoch, "seconds": seconds,
            "history": t.history, "commit": t.commit,
            "encoder_sha256": t.encoder_sha256, "predictions": t.predictions, "model": t.model.state_dict(),
            "optimizer": t.opt.state_dict(), "rng": torch.get_rng_state(), "shuffle": t.shuffle.get_state(),
            "cuda_rng": torch.cuda.get_rng_state(t.device) if t.device.type == "cuda" else None}


def record(t: Training, status: str, seconds: float, resumed_at: int) -> RunResult:
    """The finished run: its history, weights on the CPU, and where and how it trained."""
    meta = {**machine(t.device, torch.get_num_threads()),
            "commit": t.commit,  # when the run started (or its first epoch, when resumed)
            "commit_at_end": git_commit(),  # store.publish refuses a run whose two differ or name uncommitted changes
            "encoder_sha256": t.encoder_sha256,  # None: the run starts from no autoencoder
            "python": platform.python_version(), "wall_seconds": seconds, "epochs_run": len(t.history["train_loss"]),
            "parameters": count_parameters(t.model),
            "trainable_parameters": count_parameters(t.model, trainable_only=True)}
    if resumed_at:
        meta["resumed_at_epoch"] = resumed_at
    state = {k: v.detach().cpu().contiguous() for k, v in t.model.state_dict().items()}
    return RunResult(t.cfg, t.history, status, state, meta, t.predictions)


def fit(cfg: Config, data: FashionMNIST | None = None, encoder_state: dict | None = None,
        device: torch.device | None = None, progress: bool = True, checkpoint: Path | None = None,
        on_epoch=None, encoder_sha256: str | None = None) -> RunResult:
    """Train one run from its config; a non-finite training loss stops it early, marked diverged.

    With `checkpoint` (a file path), the state after each epoch (model, optimizer, RNG states, history) is written
    there, and a run that finds one resumes after its last epoch: on CPU, bit for bit the run it continues.
    `on_epoch(epochs_done)` is called after each epoch, and once on resuming. `encoder_sha256` names the
    autoencoder weights `encoder_state` comes from (recorded; a checkpoint of other weights is not resumed)."""
    t = setup(cfg, data, encoder_state, device or pick_device())
    t.encoder_sha256 = encoder_sha256
    status, start = "ok", time.perf_counter()
    if checkpoint is not None and resume(t, checkpoint) and on_epoch:
        on_epoch(t.epoch)
    first = t.epoch
    bar = tqdm(range(first, cfg.epochs), desc=cfg.label(), unit="epoch", disable=not progress, mininterval=1,
               initial=first, total=cfg.epochs)
    for _ in bar:
        t0 = time.perf_counter()
        row = run_epoch(t)
        if row is None:
            status = "diverged"
            break
        row["epoch_seconds"] = time.perf_counter() - t0
        for k, value in row.items():
            t.history[k].append(value)
        t.epoch += 1
        bar.set_postfix(train=f"{row['train_loss']:.4f}", val=f"{row['val_loss']:.4f}")
        if checkpoint is not None:
            save_checkpoint(checkpoint, checkpoint_state(t, t.seconds + time.perf_counter() - start))
        if on_epoch:
            on_epoch(t.epoch)
    bar.close()
    return record(t, status, t.seconds + time.perf_counter() - start, first)
