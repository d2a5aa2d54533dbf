"""Training here: in this process when one worker suffices, else a pool of spawned processes pinned one GPU each
(RUNS_PER_GPU to a GPU) or, without GPUs, single-threaded CPU workers; one progress view (fmnist_lib.runner)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import torch
import tqdm.std

from .config import Config, ConfigError
from .paths import runs_per_gpu_setting
from .runner import Progress, TrainRun, duration, reason


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES entries (its own list where it is set)."""
    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


def runs_per_gpu() -> int:
    """Runs that share one GPU: $FMNIST_RUNS_PER_GPU (make's RUNS_PER_GPU), default 2."""
    text = runs_per_gpu_setting() or "2"
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"RUNS_PER_GPU={text!r} is not allowed; allowed: an integer >= 1")
    return int(text)


def worker_devices(gpus: list[str], per_gpu: int, workers: int, runs: int) -> list[str | None]:
    """The CUDA_VISIBLE_DEVICES of each worker: with GPUs, `per_gpu` workers on each, taken round-robin so every
    GPU gets a run before any gets a second, at most `workers` and `runs`; without, `workers` CPU workers (None)."""
    if not gpus:
        return [None] * max(1, min(workers, runs))
    slots = [gpu for _ in range(per_gpu) for gpu in gpus]
    return slots[:max(1, min(len(slots), workers, runs))]


# A worker's queue to the parent's bar: set by _init_worker in each spawned worker process, never in the parent.
_events = None


def _init_worker(devices, events) -> None:
    """Pool initializer: pin this worker to the next GPU of the queue (before CUDA starts in it) and send its
    runs' epochs to the parent's bar."""
    global _events
    # tqdm's default lock is a multiprocessing semaphore: one made here would outlive a worker killed on Ctrl-C
    # and make the resource tracker warn of a leak; a worker draws no bars, so a thread lock serves
    tqdm.std.tqdm.set_lock(threading.RLock())
    device = devices.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    _events = events


def _send_epoch(cfg: Config, done: int) -> None:
    """A worker's on_epoch: the parent's bar hears it through the queue."""
    _events.put((cfg.key(), done))


def train_local(missing: list[Config], workers: int, root: Path, epoch_seconds=None, basis: str = "") -> None:
    """Train `missing` in this order: in this process when one worker suffices, else in a pool of spawned processes
    pinned one GPU each (RUNS_PER_GPU to a GPU) or, without GPUs, single-threaded CPU workers. A failed run is
    reported and the others go on; RunsFailed at the end names the failures. With `epoch_seconds(cfg)` (the
    launcher's estimate, from `basis`), the first line says how long it will take and the bar's time left uses it."""
    slots = worker_devices(visible_gpus(), runs_per_gpu(), workers, len(missing))
    gpus = sorted({s for s in slots if s is not None})
    where = f"{len(slots)} workers on GPU {','.join(gpus)}" if gpus else f"{len(slots)} CPU worker(s)"
    estimate = ""
    if epoch_seconds is not None:
        total = sum(c.epochs * epoch_seconds(c) for c in missing) / len(slots)
        estimate = f": about {duration(total)}" + (f" ({basis})" if basis else "")
    print(f"training {len(missing)} runs, {where}{estimate}", file=sys.stderr)
    progress = Progress(missing, root, len(slots), epoch_seconds)
    try:
        if len(slots) == 1:
            task = TrainRun(root, on_epoch=lambda cfg, done: progress.epoch(cfg.key(), done))
            for cfg in missing:
                try:
                    progress.done(cfg, task(cfg))
                except Exception as exc:
                    progress.fail(cfg, reason(exc))
        else:
            _run_pool(missing, TrainRun(root, on_epoch=_send_epoch), slots, progress)
    finally:
        progress.close()
    progress.check()


def next_ready(pending: list[Config], running) -> Config | None:
    """The first run of `pending` (in training order) that can start now: not a pretrained classifier whose
    autoencoder is still to train (pending) or in training (`running`); else None. A worker handed such a
    classifier would only wait on the autoencoder's lock, idle, while a sibling trains it."""
    unfinished = {c.key() for c in pending} | {c.key() for c in running}
    return next((c for c in pending if not c.pretrained or c.autoencoder_config().key() not in unfinished), None)


def _run_pool(missing: list[Config], task: TrainRun, slots: list, progress: Progress) -> None:
    ctx = get_context("spawn")
    devices, events = ctx.Queue(), ctx.Queue()
    for device in slots:
        devices.put(device)

    def drain():
        while not events.empty():
            progress.epoch(*events.get())

    # the workers start with Ctrl-C ignored (a disposition a spawned process keeps): the terminal's Ctrl-C reaches
    # the whole process group, and this process, not each worker with a traceback, stops them
    in_main = threading.current_thread() is threading.main_thread()  # where signal handlers may be set
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        pool = ProcessPoolExecutor(len(slots), mp_context=ctx, initializer=_init_worker, initargs=(devices, events))
        for _ in slots:  # spawns every worker now: a submit spawns one while none is idle, and none is idle yet
            pool.submit(int)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    with pool:
        try:
            dispatch(pool, task, missing, len(slots), progress, drain)
        except BaseException:  # Ctrl-C (or a failure here): the workers' runs in progress stop, unwritten
            _kill_workers(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def dispatch(executor, task, missing: list[Config], workers: int, progress: Progress, drain=lambda: None) -> None:
    """Hand the runs of `missing` to `executor` as `task(cfg)`, at most `workers` at a time, in next_ready's order,
    and report each to `progress` as it ends (`drain` passes on the workers' epochs meanwhile). A pretrained
    classifier whose autoencoder failed fails without trying it again; once the executor breaks (a worker died:
    killed, out of memory), every run not yet handed out fails."""
    pending, futures = list(missing), {}
    while pending or futures:
        for cfg in [c for c in pending if c.pretrained and c.autoencoder_config().key() in progress.failed]:
            pending.remove(cfg)
            progress.fail(cfg, f"its autoencoder failed ({cfg.autoencoder_config().label()})")
        while pending and len(futures) < workers:  # a run is handed out only when a worker is free
            cfg = next_ready(pending, futures.values()) or (None if futures else pending[0])
            if cfg is None:
                break
            pending.remove(cfg)
            try:
                futures[executor.submit(task, cfg)] = cfg
            except BrokenExecutor as exc:
                for cfg in [cfg, *pending]:
                    progress.fail(cfg, reason(exc))
                pending.clear()
        finished, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
        drain()
        for future in finished:
            cfg = futures.pop(future)
            try:
                progress.done(cfg, future.result())
            except Exception as exc:
                progress.fail(cfg, reason(exc))


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers now (a run killed part-way leaves no cache entry: entries are written aside and
    renamed; its epoch checkpoint lets the next launch resume it)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.kill()
            process.join(timeout=10)
        except (OSError, ValueError, AttributeError):
            pass
