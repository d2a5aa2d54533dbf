"""The run cache: runs/<key>/ holds config.json, history.json, weights.pt and meta.json of one finished run.

An entry is written into runs/.tmp/ and renamed into place, so a killed run never leaves an entry that reads
as complete. A per-key file lock (flock, released by the OS when its holder dies) makes two processes that
ask for the same run train it once. An entry that fails to load (truncated weights, unparsable history,
another cache version) is reported, removed and re-trained.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from .config import CACHE_VERSION, Config
from .paths import runs_dir
from .train import RunResult, fit

FILES = ("config.json", "history.json", "meta.json", "weights.pt")
PREDICTIONS = "test_predictions.txt"  # a classifier's final predicted class of each test image, one digit each


def encode_predictions(pred: torch.Tensor) -> str:
    return "".join(map(str, pred.tolist()))


def decode_predictions(text: str) -> torch.Tensor:
    return torch.tensor([int(c) for c in text.strip()], dtype=torch.uint8)


class MissingRun(LookupError):
    """A run that is not in the cache, asked for without permission to train it."""


class CorruptEntry(ValueError):
    """A cache entry that exists but cannot be trusted."""


def _root(root) -> Path:
    return Path(root) if root else runs_dir()


def entry_dir(cfg: Config, root: Path | None = None) -> Path:
    return _root(root) / cfg.key()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save(result: RunResult, root: Path | None = None) -> Path:
    """Write a finished run atomically: a temporary folder renamed into place."""
    root = _root(root)
    final = entry_dir(result.config, root)
    (root / ".tmp").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{final.name}-", dir=root / ".tmp"))
    try:
        torch.save(result.state, tmp / "weights.pt")
        (tmp / "config.json").write_text(json.dumps(result.config.relevant(), indent=1))
        (tmp / "history.json").write_text(json.dumps({"status": result.status, **result.history}, indent=1))
        if result.predictions is not None:
            (tmp / PREDICTIONS).write_text(encode_predictions(result.predictions))
        meta = {**result.meta, "key": final.name, "cache_version": CACHE_VERSION,
                "weights_sha256": sha256(tmp / "weights.pt")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        for name in os.listdir(tmp):
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def load(cfg: Config, root: Path | None = None) -> RunResult:
    """A cached run; MissingRun if absent, CorruptEntry if present but not trustworthy."""
    path = entry_dir(cfg, root)
    if not path.is_dir():
        raise MissingRun(f"run {cfg.label()} ({path.name}) is not in the cache")
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("cache_version") != CACHE_VERSION:
            raise CorruptEntry(f"cache version {meta.get('cache_version')}, expected {CACHE_VERSION}")
        if json.loads((path / "config.json").read_text()) != cfg.relevant():
            raise CorruptEntry("stored config differs from the requested one")
        history = json.loads((path / "history.json").read_text())
        status = history.pop("status")
        if status not in ("ok", "diverged") or not isinstance(history.get("train_loss"), list):
            raise CorruptEntry("history.json lacks status or train_loss")
        if sha256(path / "weights.pt") != meta["weights_sha256"]:
            raise CorruptEntry("weights.pt does not match its recorded SHA-256 (truncated or altered)")
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        pred = decode_predictions((path / PREDICTIONS).read_text()) if (path / PREDICTIONS).is_file() else None
    except CorruptEntry:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, EOFError) as exc:
        raise CorruptEntry(f"{type(exc).__name__}: {exc}") from exc
    return RunResult(cfg, history, status, state, meta, pred)


@contextlib.contextmanager
def locked(cfg: Config, root: Path | None = None):
    """Hold the per-run lock; waits while another process trains the same run."""
    locks = _root(root) / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{cfg.key()}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting: {cfg.label()} is being trained by another process", file=sys.stderr)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _try_load(cfg: Config, root: Path | None) -> RunResult | None:
    try:
        return load(cfg, root)
    except MissingRun:
        return None
    except CorruptEntry as exc:
        print(f"warning: cached run {cfg.key()} ({cfg.label()}) is unusable: {exc}; re-training it",
              file=sys.stderr)
        shutil.rmtree(entry_dir(cfg, root), ignore_errors=True)
        return None


def get_run(cfg: Config, train: bool = True, root: Path | None = None, progress: bool = True) -> RunResult:
    """The run of `cfg`: from the cache, else trained (its autoencoder first, if it needs one) and cached."""
    try:
        return load(cfg, root)
    except (MissingRun, CorruptEntry):
        if not train:
            raise
    with locked(cfg, root):
        result = _try_load(cfg, root)  # another process may have finished it while we waited
        if result is not None:
            return result
        for stale in (_root(root) / ".tmp").glob(f"{cfg.key()}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed run of this key
        encoder = get_run(cfg.autoencoder_config(), root=root, progress=progress).encoder_state() \
            if cfg.pretrained else None
        result = fit(cfg, encoder_state=encoder, progress=progress)
        save(result, root)
        return result


def is_cached(cfg: Config, root: Path | None = None) -> bool:
    return (entry_dir(cfg, root) / "meta.json").is_file()


def _train_one(cfg: Config, root: Path | None) -> str:
    get_run(cfg, root=root)
    return cfg.key()


def default_workers() -> int:
    """Parallel training processes: $FMNIST_WORKERS, else one per core."""
    return int(os.environ.get("FMNIST_WORKERS", os.cpu_count() or 1))


def ensure_runs(cfgs, workers: int | None = None, root: Path | None = None, priority=None) -> list[RunResult]:
    """All runs of `cfgs`, training the missing ones in parallel processes: in the order of `priority(cfg)` (a sort
    key; none by default), then autoencoders, classifiers that need none, pretrained classifiers, longest first."""
    cfgs = list(cfgs)
    missing = list({c.key(): c for c in cfgs if not is_cached(c, root)}.values())
    needed = {c.autoencoder_config().key(): c.autoencoder_config() for c in missing if c.pretrained}
    missing = [c for c in needed.values() if not is_cached(c, root)] + [c for c in missing if c.key() not in needed]
    # longest first, so the last runs to start are short ones; autoencoders before the classifiers
    missing.sort(key=lambda c: (priority(c) if priority else 0, c.model != "autoencoder", c.pretrained,
                                -c.epochs * c.train_size / c.batch_size ** 0.5))
    workers = min(workers or default_workers(), len(missing))
    if workers > 1 and not torch.cuda.is_available():
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            list(pool.map(_train_one, missing, [root] * len(missing)))
    else:
        for c in missing:
            get_run(c, root=root)
    return [get_run(c, root=root) for c in cfgs]
