"""One training loop for both models: in-memory tensors, index-sliced batches, eval-mode metrics per epoch."""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from .config import Config
from .data import FashionMNIST, Split, load_fashion_mnist
from .models import build_model, count_parameters
from .provenance import cpu_name, git_commit

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


def save_checkpoint(path: Path, state: dict) -> None:
    """Write an epoch checkpoint atomically: a file beside it, flushed to disk, renamed over the old one."""
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, path)


def load_checkpoint(path: Path, cfg: Config, device: torch.device) -> dict | None:
    """The epoch checkpoint of `cfg` at `path`, or None (absent, unreadable, another run's or another device's:
    reported, and the run starts from epoch 0)."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        problem = ("it belongs to another run" if saved["key"] != cfg.key() else
                   f"it was written on {saved['device']}, this run is on {device.type}"
                   if saved["device"] != device.type else
                   "its epoch is out of range" if not 0 < saved["epoch"] <= cfg.epochs else None)
    except Exception as exc:  # a checkpoint is a convenience: any fault means starting over, never a failed run
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        return saved
    print(f"warning: ignoring checkpoint {path} ({problem}); {cfg.label()} starts from epoch 0", file=sys.stderr)
    return None


def fit(cfg: Config, data: FashionMNIST | None = None, encoder_state: dict | None = None,
        device: torch.device | None = None, progress: bool = True, checkpoint: Path | None = None,
        on_epoch=None) -> RunResult:
    """Train one run from its config; a non-finite training loss stops it early, marked diverged.

    With `checkpoint` (a file path), the state after each epoch (model, optimizer, RNG states, history) is written
    there, and a run that finds one resumes after its last epoch: on CPU, bit for bit the run it continues.
    `on_epoch(epochs_done)` is called after each epoch, and once on resuming."""
    device = device or pick_device()
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
    clf = cfg.model == "classifier"
    names = ["train_loss", "train_eval_loss", "val_loss", "test_loss"] + (
        ["train_eval_acc", "val_acc", "test_acc", "test_unpredicted"] if clf else ["test_loss_dropout"])
    history: dict[str, list[float]] = {k: [] for k in names + ["epoch_seconds"]}
    status, start, predictions = "ok", time.perf_counter(), None
    first, earlier_seconds = 0, 0.0
    commit = git_commit()  # checked again at the end: a run is reproducible from one commit, or says it is not
    saved = load_checkpoint(checkpoint, cfg, device) if checkpoint is not None else None
    if saved is not None:  # everything an epoch's end leaves behind, so the next epoch computes the same bits
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        if device.type == "cuda":
            torch.cuda.set_rng_state(saved["cuda_rng"], device)
        shuffle.set_state(saved["shuffle"])
        history, predictions = saved["history"], saved["predictions"]
        first, earlier_seconds = saved["epoch"], saved["seconds"]
        commit = saved.get("commit", "unknown (a checkpoint that did not record it)")
        if on_epoch:
            on_epoch(first)
    bar = tqdm(range(first, cfg.epochs), desc=cfg.label(), unit="epoch", disable=not progress, mininterval=1,
               initial=first, total=cfg.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        train_loss = train_epoch(model, opt, criterion, train, cfg, shuffle)
        if not math.isfinite(train_loss):
            status = "diverged"
            break
        last = epoch == cfg.epochs - 1
        tr, v, t = evaluate(model, train_probe, cfg), evaluate(model, val, cfg), \
            evaluate(model, test, cfg, predictions=last)
        row = {"train_loss": train_loss, "train_eval_loss": tr["loss"], "val_loss": v["loss"], "test_loss": t["loss"]}
        if clf:
            row |= {"train_eval_acc": tr["acc"], "val_acc": v["acc"], "test_acc": t["acc"],
                    "test_unpredicted": t["unpredicted"]}
            predictions = t.get("pred")
        else:
            row["test_loss_dropout"] = evaluate(model, test, cfg, dropout=True)["loss"]
        row["epoch_seconds"] = time.perf_counter() - t0
        for k, value in row.items():
            history[k].append(value)
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{v['loss']:.4f}")
        if checkpoint is not None:
            save_checkpoint(checkpoint, {
                "key": cfg.key(), "device": device.type, "epoch": epoch + 1,
                "seconds": earlier_seconds + time.perf_counter() - start, "history": history, "commit": commit,
                "predictions": predictions, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "rng": torch.get_rng_state(), "shuffle": shuffle.get_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            })
        if on_epoch:
            on_epoch(epoch + 1)
    bar.close()
    seconds = earlier_seconds + time.perf_counter() - start
    meta = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu": cpu_name(),
        "commit": commit,  # when the run started (or its first epoch, when resumed)
        "commit_at_end": git_commit(),  # store.publish refuses a run whose two differ or name uncommitted changes
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "wall_seconds": seconds,
        "epochs_run": len(history["train_loss"]),
        "parameters": count_parameters(model),
        "trainable_parameters": count_parameters(model, trainable_only=True),
    }
    if first:
        meta["resumed_at_epoch"] = first
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return RunResult(cfg, history, status, state, meta, predictions)
