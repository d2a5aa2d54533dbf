"""Epoch checkpoints of a run in training: written atomically after each epoch, read back to resume it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from .config import Config


def save_checkpoint(path: Path, state: dict) -> None:
    """Write an epoch checkpoint atomically: a file beside it, flushed to disk, renamed over the old one."""
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, path)


def load_checkpoint(path: Path, cfg: Config, device: torch.device, encoder_sha256: str | None = None,
                    commit: str | None = None) -> dict | None:
    """The epoch checkpoint of `cfg` at `path`, or None (absent, unreadable, another run's or another device's, one
    that started from other autoencoder weights than `encoder_sha256`, or written by another commit than `commit`, so
    that the run would name two: reported; the run starts from epoch 0)."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        problem = ("it belongs to another run" if saved["key"] != cfg.key() else
                   f"it was written on {saved['device']}, this run is on {device.type}"
                   if saved["device"] != device.type else
                   "its epoch is out of range" if not 0 < saved["epoch"] <= cfg.epochs else
                   "it started from another copy of the autoencoder" if saved.get("encoder_sha256") != encoder_sha256
                   else f"commit {saved.get('commit')} wrote it, this run trains from {commit}"
                   if commit is not None and saved.get("commit") != commit else None)
    except Exception as exc:  # a checkpoint is a convenience: any fault means starting over, never a failed run
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        return saved
    print(f"warning: ignoring checkpoint {path} ({problem}); {cfg.label()} starts from epoch 0", file=sys.stderr)
    return None
