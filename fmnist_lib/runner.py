"""One task for every executor, and the one progress view over the runs being trained.

`TrainRun` trains one run into the run cache through cache.get_run (so a run stopped part-way resumes from its last
epoch checkpoint) and returns a picklable summary; `Progress` draws one bar over the epochs of all runs (runs done of
total in its title, ETA from the measured rate) and one line per finished or failed run. fmnist_lib.pool runs tasks
here, fmnist_lib.slurm as Slurm tasks.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import torch

from . import cache
from .config import Config

with warnings.catch_warnings():  # tqdm.auto warns once when a notebook lacks ipywidgets, then draws text bars
    warnings.simplefilter("ignore")
    from tqdm.auto import tqdm

try:  # the `slurm` extra: only EXECUTOR=slurm|debug needs it; Checkpointable lets submitit requeue a task
    from submitit.helpers import Checkpointable
except ImportError:
    Checkpointable = object


class LaunchError(ValueError):
    """A setting or a place that makes launching impossible; the message says what and what is allowed."""


class RunsFailed(RuntimeError):
    """Some runs failed (each reported as it failed); the others were trained."""


def duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{max(seconds / 60, 0.1):.1f} min"


class Progress:
    """One bar over the epochs of the runs being trained (runs done of total in its title) and one line per finished
    or failed run, drawn by the one process that trains or waits. Its time left weighs each epoch by what an epoch of
    its run costs (`epoch_seconds(cfg)`, the launcher's estimate: an autoencoder epoch costs several frozen-classifier
    epochs), scaled by the speed measured so far: it starts at the estimate and follows the machine within a few
    runs."""

    def __init__(self, cfgs: list[Config], root: Path | None = None, workers: int = 1, epoch_seconds=None):
        self.cfgs = {c.key(): c for c in cfgs}
        self.root = root
        self.epochs = dict.fromkeys(self.cfgs, 0)
        self.finished, self.failed, self._mtimes = set(), {}, {}
        self.cost = {k: epoch_seconds(c) if epoch_seconds else 1.0 for k, c in self.cfgs.items()}
        self.estimated = epoch_seconds is not None
        self.workers, self.start = max(1, min(workers, len(self.cfgs))), time.monotonic()
        self.bar = tqdm(total=sum(c.epochs for c in self.cfgs.values()), unit="epoch", mininterval=1,
                        dynamic_ncols=True, desc=self._title(),
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} epochs [{elapsed}{postfix}]")
        self._left()

    def _left(self) -> None:
        """Time left: the estimated work left at the speed measured so far (the estimate's own before any epoch)."""
        total = sum(self.cost[k] * c.epochs for k, c in self.cfgs.items())
        done = sum(self.cost[k] * n for k, n in self.epochs.items())
        elapsed = time.monotonic() - self.start
        if done and elapsed:
            speed = done / elapsed
        elif self.estimated:
            speed = self.workers
        else:
            return  # no estimate and nothing measured yet
        self.bar.set_postfix_str(f"about {duration((total - done) / speed)} left", refresh=False)

    def _title(self) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        return f"runs {len(self.finished)}/{len(self.cfgs)}{failed}"

    def epoch(self, key: str, done: int) -> None:
        """Run `key` has `done` epochs behind it."""
        if key in self.epochs and done > self.epochs[key]:
            self.epochs[key] = done
            self._left()
            self.bar.update(sum(self.epochs.values()) - self.bar.n)

    def done(self, cfg: Config, summary: dict) -> None:
        self.epoch(cfg.key(), cfg.epochs)  # a diverged run stops early: its remaining epochs will not come
        self.finished.add(cfg.key())
        self.bar.set_description(self._title(), refresh=False)
        self.bar.write(run_line(cfg, summary))

    def fail(self, cfg: Config, reason: str) -> None:
        self.epoch(cfg.key(), cfg.epochs)  # its remaining epochs will not come either
        self.failed[cfg.key()] = reason
        self.bar.set_description(self._title(), refresh=False)
        self.bar.write(f"FAILED {cfg.label()} ({cfg.key()}): {reason}")

    def read_checkpoints(self, keys) -> None:
        """Epochs done of runs trained elsewhere (Slurm tasks), from their epoch checkpoints."""
        for key in keys:
            path = cache.checkpoint_path(self.cfgs[key], self.root)
            try:
                mtime = path.stat().st_mtime
                if self._mtimes.get(key) != mtime:
                    self.epoch(key, torch.load(path, map_location="cpu", weights_only=True, mmap=True)["epoch"])
                    self._mtimes[key] = mtime
            except Exception:  # absent, or replaced while read: the next poll reads it
                continue

    def close(self) -> None:
        self.bar.close()

    def check(self) -> None:
        """RunsFailed naming the runs that failed, if any did."""
        if self.failed:
            raise RunsFailed(f"{len(self.failed)} of {len(self.cfgs)} runs failed (listed above; the others are "
                             f"cached): " + "; ".join(f"{self.cfgs[k].label()}: {r}" for k, r in self.failed.items()))


def summarize(result) -> dict:
    """What the line of a finished run shows (picklable: it travels back from workers and Slurm tasks)."""
    metric = "val_acc" if result.config.model == "classifier" else "val_loss"
    values = result.history.get(metric) or [math.nan]
    return {"status": result.status, "epochs": len(result.history["train_loss"]), "metric": metric,
            "value": values[-1], "seconds": result.meta.get("wall_seconds", math.nan),
            "resumed": result.meta.get("resumed_at_epoch")}


def run_line(cfg: Config, s: dict) -> str:
    resumed = f", resumed at epoch {s['resumed']}" if s.get("resumed") else ""
    seconds = f"{s['seconds']:.1f}" if s["seconds"] < 10 else f"{s['seconds']:.0f}"
    return (f"{'done' if s['status'] == 'ok' else s['status'].upper()} {cfg.label()} ({cfg.key()}): "
            f"{s['epochs']} epoch{'s' * (s['epochs'] != 1)} in {seconds} s, {s['metric']} {s['value']:.4f}{resumed}")


def print_epoch(cfg: Config, done: int) -> None:
    """A Slurm task's report of its epochs: its log shows them (the launcher reads them from the checkpoints)."""
    print(f"{cfg.label()} ({cfg.key()}): epoch {done}/{cfg.epochs}", flush=True)


class TrainRun(Checkpointable):
    """Train one run into the run cache at `root` (resuming from its epoch checkpoint) and summarize it;
    `on_epoch(cfg, epochs_done)` follows its epochs (default: a line each, for a Slurm task's log). Under Slurm,
    submitit calls the inherited checkpoint() when the task is preempted or reaches its time limit and requeues it
    with the same config; the requeued task resumes from the last finished epoch."""

    def __init__(self, root: Path, on_epoch=None):
        self.root = str(root)
        self.on_epoch = on_epoch

    def __call__(self, cfg: Config) -> dict:
        return summarize(cache.get_run(cfg, root=Path(self.root), progress=False,
                                       on_epoch=self.on_epoch or print_epoch))


def reason(exc: BaseException) -> str:
    """One line for a failure: the exception's type and first line."""
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
