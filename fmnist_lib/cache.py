"""The run cache: runs/<key>/ holds config.json, history.json, weights.pt and meta.json of one finished run.

An entry is written into runs/.tmp/ and renamed into place, so a killed run never leaves an entry that reads
as complete. A per-key file lock (flock, released by the OS when its holder dies) makes two processes that
ask for the same run train it once. A run in training checkpoints every epoch into runs/.tmp/<key>.ckpt, so
one that was killed resumes from its last epoch (removed once the entry is saved). An entry that fails to load
(truncated weights, unparsable history, another cache version) is reported, removed and re-trained.
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
from pathlib import Path

import torch

from .config import CACHE_VERSION, Config
from .paths import retrain_stale_setting, runs_dir, store_dirs
from .provenance import trained_from, unreproducible
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


@contextlib.contextmanager
def atomic_dir(final: Path):
    """Yield an empty temporary folder `final.parent/.tmp/<final.name>-<random>/` to fill with files (flat: no
    subfolders); when the block ends without an error, fsync the files and rename the folder into place as `final`,
    else remove it, so a reader never sees a half-written entry. An older `final` is renamed aside first and removed
    after. Callers serialise writers of one `final` (the run cache through `locked`); `get_run` clears what a killed
    writer left by that name pattern."""
    tmpdir = final.parent / ".tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{final.name}-", dir=tmpdir))
    old = None
    try:
        yield tmp
        for name in os.listdir(tmp):
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f"{final.name}-old-", dir=tmpdir))
            os.rename(final, old / final.name)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def save(result: RunResult, root: Path | None = None) -> Path:
    """Write a finished run atomically: a temporary folder renamed into place; its meta gains what the entry's
    meta.json adds (key, cache version, the weights' SHA-256)."""
    final = entry_dir(result.config, _root(root))
    with atomic_dir(final) as tmp:
        torch.save(result.state, tmp / "weights.pt")
        (tmp / "config.json").write_text(json.dumps(result.config.relevant(), indent=1))
        (tmp / "history.json").write_text(json.dumps({"status": result.status, **result.history}, indent=1))
        if result.predictions is not None:
            (tmp / PREDICTIONS).write_text(encode_predictions(result.predictions))
        meta = {**result.meta, "key": final.name, "cache_version": CACHE_VERSION,
                "weights_sha256": sha256(tmp / "weights.pt")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    result.meta.update(meta)  # as a load would read it: the weights' SHA-256 names this copy of the run
    return final


def load(cfg: Config, root: Path | None = None) -> RunResult:
    """A cached run, else its entry in a results store (reports/*/store/, whose `state` is None where the store
    keeps no weights); MissingRun if in neither, CorruptEntry if present but not trustworthy."""
    path = entry_dir(cfg, root)
    if not path.is_dir():
        stored = stored_entry(cfg)
        if stored is None:
            raise MissingRun(f"run {cfg.label()} ({path.name}) is not in the cache nor in a results store")
        try:
            return read_entry(cfg, stored, weights_optional=True)
        except CorruptEntry as exc:
            raise CorruptEntry(f"published entry {stored}: {exc}") from exc
    return read_entry(cfg, path)


def stored_entry(cfg: Config) -> Path | None:
    """The entry of `cfg` in a results store (see fmnist_lib.store), or None."""
    return next((store / cfg.key() for store in store_dirs() if (store / cfg.key()).is_dir()), None)


def read_entry(cfg: Config, path: Path, weights_optional: bool = False) -> RunResult:
    """The run stored in folder `path`, checked: cache version, config, history, weights' SHA-256 (a store entry
    may lack weights.pt: `weights_optional`, state None); CorruptEntry if it cannot be trusted."""
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
        state = None
        if not weights_optional or (path / "weights.pt").exists():
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


def checkpoint_path(cfg: Config, root: Path | None = None) -> Path:
    """Where a run in training keeps its epoch checkpoint (removed once its entry is saved)."""
    return _root(root) / ".tmp" / f"{cfg.key()}.ckpt"


def get_run(cfg: Config, train: bool = True, root: Path | None = None, progress: bool = True,
            on_epoch=None) -> RunResult:
    """The run of `cfg`: from the cache, else trained (its autoencoder first, if it needs one) and cached. With
    `train` and $FMNIST_RETRAIN_STALE=1 (`launch --retrain-stale`, from a clean checkout), a held run that `stale`
    rejects is trained again into the run cache. A run that was stopped part-way resumes from its last epoch
    checkpoint; `on_epoch(cfg, epochs_done)` follows it."""
    again = train and retrain_stale_setting()
    try:
        result = load(cfg, root)
        if not again or stale(result, root) is None:
            return result
    except (MissingRun, CorruptEntry):
        if not train:
            raise
    with locked(cfg, root):
        result = _try_load(cfg, root)  # another process may have finished it while we waited
        if result is not None and (not again or stale(result, root) is None):
            return result
        for old in (_root(root) / ".tmp").glob(f"{cfg.key()}-*"):
            shutil.rmtree(old, ignore_errors=True)  # left by a killed run of this key
        encoder = get_run(cfg.autoencoder_config(), root=root, progress=progress, on_epoch=on_epoch) \
            if cfg.pretrained else None
        ckpt = checkpoint_path(cfg, root)
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        result = fit(cfg, encoder_state=encoder.encoder_state() if encoder else None, progress=progress,
                     checkpoint=ckpt, on_epoch=(lambda done: on_epoch(cfg, done)) if on_epoch else None,
                     encoder_sha256=encoder.meta["weights_sha256"] if encoder else None)
        save(result, root)
        ckpt.unlink(missing_ok=True)
        return result


def stale(result: RunResult, root: Path | None = None) -> str | None:
    """Why a held run must be trained again, or None: a run of a key that a store publishes, held in a copy that
    names no commit in history that reproduces it (provenance.unreproducible; a run the stores do not publish is
    this checkout's own, and fmnist_lib.store refuses to publish it), or a pretrained classifier not trained from
    its autoencoder's held copy (`load`'s: the run cache's before a store's; provenance.trained_from), or whose
    autoencoder is stale itself."""
    cfg = result.config
    if stored_entry(cfg) is not None and (why := unreproducible(result.meta)):
        return f"published, {why}"
    if not cfg.pretrained:
        return None
    try:
        encoder = load(cfg.autoencoder_config(), root)
    except (MissingRun, CorruptEntry):
        return "its autoencoder is not held"
    if why := stale(encoder, root):
        return f"its autoencoder must be trained again ({why})"
    if not trained_from(result.meta, encoder.meta):
        return "it was trained from another copy of its autoencoder"
    return None


def needs_training(cfg: Config, root: Path | None = None) -> bool:
    """Not held (in the run cache or a store), or held but `stale`: what fmnist_lib.launch trains."""
    try:
        return stale(load(cfg, root), root) is not None
    except (MissingRun, CorruptEntry):
        return True


def stale_runs(cfgs, root: Path | None = None) -> list[Config]:
    """The runs of `cfgs` that are held but `stale`: what `launch --retrain-stale` trains again."""
    return [c for c in cfgs if is_cached(c, root) and needs_training(c, root)]


def is_cached(cfg: Config, root: Path | None = None) -> bool:
    """In the run cache or in a results store (then fmnist_lib.launch does not train it)."""
    return (entry_dir(cfg, root) / "meta.json").is_file() or stored_entry(cfg) is not None
