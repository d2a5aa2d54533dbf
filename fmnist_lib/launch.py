"""Where the runs of a report train: here (a process pool, one GPU per worker where there are GPUs), on a Slurm
cluster (job arrays through submitit), or through the Slurm code path in this process (submitit's debug executor).

`python -m fmnist_lib.launch PROFILE [--executor local|slurm|debug] [--workers N] [--config slurm.yaml]
[--partition P] [--time-min M] [--gpus-per-task G] [--cpus-per-task C] [--array-parallelism A] [--slurm-args S]`
(`make runs` writes this line). Every executor trains one run per task through cache.get_run, so a run stopped
part-way (SIGKILL, a preemption, a time limit) resumes from its last epoch checkpoint, and one overall progress
bar (runs done of total, epochs done, ETA from the measured rate) with a line per finished run replaces the
per-run bars.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import re
import shlex
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import torch
import yaml

from . import cache
from .config import Config, ConfigError, get_profile
from .paths import runs_dir

with warnings.catch_warnings():  # tqdm.auto warns once when a notebook lacks ipywidgets, then draws text bars
    warnings.simplefilter("ignore")
    from tqdm.auto import tqdm

try:  # the `slurm` extra: only EXECUTOR=slurm|debug needs it
    import submitit
    from submitit.helpers import Checkpointable
except ImportError:
    submitit, Checkpointable = None, object

EXECUTORS = ("local", "slurm", "debug")
# Slurm states of a job that is still going to produce its run: a re-run waits for it instead of submitting again
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUE_HOLD",
          "REQUEUE_FED", "STAGE_OUT", "SIGNALING"}


class LaunchError(ValueError):
    """A setting or a place that makes launching impossible; the message says what and what is allowed."""


class RunsFailed(RuntimeError):
    """Some runs failed (each reported as it failed); the others were trained."""


def check_flock(root: Path) -> None:
    """LaunchError unless the run cache's filesystem grants flock, which keeps two writers off one run."""
    (root / ".locks").mkdir(parents=True, exist_ok=True)
    try:
        with open(root / ".locks" / "flock-probe", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
    except BlockingIOError:
        pass  # another launcher holds the probe: flock works
    except OSError as exc:
        raise LaunchError(f"the run cache {root} is on a filesystem that refuses flock ({exc.strerror}), so runs "
                          f"sharing it cannot be kept from training the same entry; allowed: a run cache on a "
                          f"filesystem with flock (set FMNIST_RUNS; on Lustre, one mounted with -o flock)") from exc


# --- one progress view ----------------------------------------------------------------------------------------

class Progress:
    """One bar over the epochs of the runs being trained (runs done of total in its title; ETA from the rate
    measured so far) and one line per finished or failed run, drawn by the one process that trains or waits."""

    def __init__(self, cfgs: list[Config], root: Path | None = None):
        self.cfgs = {c.key(): c for c in cfgs}
        self.root = root
        self.epochs = dict.fromkeys(self.cfgs, 0)
        self.finished, self.failed, self._mtimes = set(), {}, {}
        self.bar = tqdm(total=sum(c.epochs for c in self.cfgs.values()), unit="epoch", smoothing=0,
                        mininterval=1, dynamic_ncols=True, desc=self._title())

    def _title(self) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        return f"runs {len(self.finished)}/{len(self.cfgs)}{failed}"

    def epoch(self, key: str, done: int) -> None:
        """Run `key` has `done` epochs behind it."""
        if key in self.epochs and done > self.epochs[key]:
            self.bar.update(done - self.epochs[key])
            self.epochs[key] = done

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


# --- one task, for every executor -----------------------------------------------------------------------------

_listener = None  # where a task reports its epochs: the pool's queue in a worker, the bar in this process


def _report_epoch(cfg: Config, done: int) -> None:
    if _listener is not None:
        _listener(cfg.key(), done)
    else:  # a Slurm task: its log shows the epochs (the launcher reads them from the checkpoints)
        print(f"{cfg.label()} ({cfg.key()}): epoch {done}/{cfg.epochs}", flush=True)


class TrainRun(Checkpointable):
    """Train one run into the run cache at `root` (resuming from its epoch checkpoint) and summarize it. Under
    Slurm, submitit calls the inherited checkpoint() when the task is preempted or reaches its time limit and
    requeues it with the same config; the requeued task resumes from the last finished epoch."""

    def __init__(self, root: Path):
        self.root = str(root)

    def __call__(self, cfg: Config) -> dict:
        return summarize(cache.get_run(cfg, root=Path(self.root), progress=False, on_epoch=_report_epoch))


def _reason(exc: BaseException) -> str:
    """One line for a failure: the exception, or the last error line of a Slurm task's traceback."""
    text = str(exc)
    errors = re.findall(r"^\s*([\w.]+(?:Error|Exception|Interrupt)\b.*)$", text, re.M)
    if submitit is not None and isinstance(exc, submitit.core.utils.FailedJobError) and errors:
        return errors[-1].strip()
    if submitit is not None and isinstance(exc, submitit.core.utils.UncompletedJobError):
        state = re.search(r"state: (\w+)", text)
        return f"the task ended without a result (Slurm state {state.group(1) if state else 'unknown'})"
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


# --- here: a process pool, one GPU per worker -----------------------------------------------------------------

def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES entries (its own list where it is set)."""
    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


def runs_per_gpu() -> int:
    """Runs that share one GPU: $FMNIST_RUNS_PER_GPU (make's RUNS_PER_GPU), default 2."""
    text = os.environ.get("FMNIST_RUNS_PER_GPU", "2")
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


def _init_worker(devices, events) -> None:
    """Pool initializer: pin this worker to the next GPU of the queue (before CUDA starts in it) and send its
    runs' epochs to the parent's bar."""
    global _listener
    import tqdm.std

    # tqdm's default lock is a multiprocessing semaphore: one made here would outlive a worker killed on Ctrl-C
    # and make the resource tracker warn of a leak; a worker draws no bars, so a thread lock serves
    tqdm.std.tqdm.set_lock(threading.RLock())
    device = devices.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    _listener = lambda key, done: events.put((key, done))  # noqa: E731


def train_local(missing: list[Config], workers: int, root: Path | None = None) -> None:
    """Train `missing` in this order: in this process when one worker suffices, else in a pool of spawned processes
    pinned one GPU each (RUNS_PER_GPU to a GPU) or, without GPUs, single-threaded CPU workers. A failed run is
    reported and the others go on; RunsFailed at the end names the failures."""
    global _listener
    slots = worker_devices(visible_gpus(), runs_per_gpu(), workers, len(missing))
    gpus = sorted({s for s in slots if s is not None})
    where = f"{len(slots)} workers on GPU {','.join(gpus)}" if gpus else f"{len(slots)} CPU worker(s)"
    print(f"training {len(missing)} runs, {where}", file=sys.stderr)
    progress = Progress(missing, root)
    task = TrainRun(root or runs_dir())
    try:
        if len(slots) == 1:
            _listener = progress.epoch
            for cfg in missing:
                try:
                    progress.done(cfg, task(cfg))
                except Exception as exc:
                    progress.fail(cfg, _reason(exc))
        else:
            _run_pool(missing, task, slots, progress)
    finally:
        _listener = None
        progress.close()
    progress.check()


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
        futures = {pool.submit(task, cfg): cfg for cfg in missing}  # spawns the workers
    finally:
        if in_main:
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    with pool:
        try:
            while futures:
                finished, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                drain()
                for future in finished:
                    cfg = futures.pop(future)
                    try:
                        progress.done(cfg, future.result())
                    except Exception as exc:
                        progress.fail(cfg, _reason(exc))
        except BaseException:  # Ctrl-C (or a failure here): the workers' runs in progress stop, unwritten
            _kill_workers(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers now (a run killed part-way leaves no cache entry: entries are written aside and
    renamed; its epoch checkpoint lets the next launch resume it)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.kill()
            process.join(timeout=10)
        except (OSError, ValueError, AttributeError):
            pass


# --- Slurm and debug: submitit job arrays ---------------------------------------------------------------------

@dataclass(frozen=True)
class SlurmSettings:
    """What each Slurm task asks for (slurm.example.yaml explains each)."""

    partition: str | None = None
    time_min: int = 120
    cpus_per_task: int = 2
    gpus_per_task: int = 0
    gres: str | None = None
    mem_gb: float | None = 8
    array_parallelism: int = 32
    max_num_timeout: int = 10
    use_srun: bool = True
    srun_args: list = field(default_factory=list)
    setup: list = field(default_factory=list)
    wckey: str = ""
    additional: dict = field(default_factory=dict)
    logs: str | None = None


_KINDS = {"partition": "text", "time_min": "count", "cpus_per_task": "count", "gpus_per_task": "natural",
          "gres": "text", "mem_gb": "size", "array_parallelism": "count", "max_num_timeout": "natural",
          "use_srun": "bool", "srun_args": "texts", "setup": "texts", "wckey": "text", "additional": "options",
          "logs": "text"}
_ALLOWED = {"text": "a string", "count": "an integer >= 1", "natural": "an integer >= 0", "size": "a number > 0",
            "bool": "true or false", "texts": "a list of strings", "options": "a mapping of sbatch options to values"}


def _valid(kind: str, value) -> bool:
    scalar = (str, int, float, bool)
    return {"text": lambda v: isinstance(v, str),
            "count": lambda v: type(v) is int and v >= 1,
            "natural": lambda v: type(v) is int and v >= 0,
            "size": lambda v: type(v) in (int, float) and v > 0,
            "bool": lambda v: isinstance(v, bool),
            "texts": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
            "options": lambda v: isinstance(v, dict) and all(isinstance(x, scalar) for x in v.values())}[kind](value)


def parse_slurm_args(text: str) -> dict:
    """SLURM_ARGS ('--account=abc --qos=high --exclusive') as sbatch options {name: value or True}."""
    options = {}
    for token in shlex.split(text):
        match = re.fullmatch(r"--([A-Za-z][\w-]*)(?:=(.*))?", token)
        if not match:
            raise LaunchError(f"SLURM_ARGS: {token!r} is not allowed; allowed: long sbatch options written "
                              f"--name=value or --flag, e.g. SLURM_ARGS='--account=abc --qos=high'")
        options[match.group(1)] = True if match.group(2) is None else match.group(2)
    return options


def load_settings(path: str | None = None, slurm_args: str = "", **overrides) -> SlurmSettings:
    """Settings from a YAML file (if any), then the make variables (`overrides`, None = unset), then SLURM_ARGS."""
    values, source = {}, "make variables"
    if path:
        source = path
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise LaunchError(f"SLURM_CONFIG={path}: cannot be read ({type(exc).__name__}); allowed: a YAML "
                              f"file of settings like slurm.example.yaml") from exc
        if not isinstance(values, dict):
            raise LaunchError(f"{path}: not a mapping; allowed: settings such as partition: gpu, time_min: 120")
    values |= {k: v for k, v in overrides.items() if v is not None}
    for name, value in values.items():
        if name not in _KINDS:
            raise LaunchError(f"{source}: unknown setting {name!r}; allowed: {', '.join(_KINDS)}")
        if not (value is None and name in ("partition", "gres", "mem_gb", "logs")) and not _valid(_KINDS[name], value):
            raise LaunchError(f"{source}: {name}={value!r} is not allowed; allowed: {_ALLOWED[_KINDS[name]]}")
    if slurm_args:
        values["additional"] = {**values.get("additional", {}), **parse_slurm_args(slurm_args)}
    return SlurmSettings(**values)


def sbatch_parameters(s: SlurmSettings) -> dict:
    """The SlurmExecutor parameters of `s` (submitit.slurm.slurm._make_sbatch_string's names)."""
    params = {"job_name": "fmnist", "time": s.time_min, "cpus_per_task": s.cpus_per_task,
              "array_parallelism": s.array_parallelism, "use_srun": s.use_srun,
              "wckey": s.wckey or None}  # None leaves out submitit's default --wckey=submitit
    optional = {"partition": s.partition, "gpus_per_task": s.gpus_per_task or None, "gres": s.gres,
                "mem": None if s.mem_gb is None else f"{s.mem_gb:g}GB" if s.mem_gb == int(s.mem_gb)
                else f"{int(s.mem_gb * 1024)}MB",
                "srun_args": s.srun_args or None, "setup": s.setup or None,
                "additional_parameters": s.additional or None}
    return params | {k: v for k, v in optional.items() if v is not None}


def make_executor(kind: str, folder: Path, settings: SlurmSettings):
    """submitit's executor for `kind` ("slurm" or "debug"), logging into folder/<job id>/."""
    if submitit is None:
        raise LaunchError(f"EXECUTOR={kind} needs submitit, which is not installed; allowed: "
                          f"pip install -e '.[slurm]' (or EXECUTOR=local)")
    if kind == "debug":
        return submitit.DebugExecutor(folder / "%j")
    try:
        executor = submitit.SlurmExecutor(folder / "%j", max_num_timeout=settings.max_num_timeout)
    except RuntimeError as exc:  # no srun on PATH
        raise LaunchError("EXECUTOR=slurm finds no `srun` here; allowed: run it on the cluster's login node "
                          "(EXECUTOR=debug runs the same code path in this process)") from exc
    executor.update_parameters(**sbatch_parameters(settings))
    return executor


def logs_folder(settings: SlurmSettings, root: Path) -> Path:
    return Path(settings.logs).resolve() if settings.logs else root / ".submitit"


def _job_state(folder: Path, job_id: str) -> str:
    return submitit.SlurmJob(folder=folder / "%j", job_id=job_id).state


def submit(missing: list[Config], kind: str, settings: SlurmSettings, root: Path) -> dict:
    """Submit `missing` as one task each: the autoencoders as one job array, then the classifiers as a second
    that Slurm starts after the first has ended (afterany: a classifier whose autoencoder failed trains it
    itself). Runs whose task from an earlier submission is still queued or running are waited for, not submitted
    again. {key: (config, job)}."""
    folder = logs_folder(settings, root)
    executor = make_executor(kind, folder, settings)
    record = folder / "submitted.json"
    known = json.loads(record.read_text()) if kind == "slurm" and record.is_file() else {}
    jobs = {}
    for cfg in missing:
        if cfg.key() in known and _job_state(folder, known[cfg.key()]) in ACTIVE:
            jobs[cfg.key()] = (cfg, submitit.SlurmJob(folder=folder / "%j", job_id=known[cfg.key()]))
    if jobs:
        print(f"{len(jobs)} runs are still queued or running from an earlier submission: waiting for them",
              file=sys.stderr)
    todo = [c for c in missing if c.key() not in jobs]
    autoencoders = [c for c in todo if c.model == "autoencoder"]
    classifiers = [c for c in todo if c.model != "autoencoder"]
    task = TrainRun(root)
    for group in (autoencoders, classifiers):
        if not group:
            continue
        arrays = sorted({j.job_id.split("_")[0] for c, j in jobs.values() if c.model == "autoencoder"})
        if kind == "slurm":
            executor.update_parameters(dependency="afterany:" + ":".join(arrays)
                                       if group is classifiers and arrays else None)
        submitted = executor.map_array(task, group)
        jobs |= {c.key(): (c, j) for c, j in zip(group, submitted)}
        if kind == "slurm":
            after = f", to start after {', '.join(arrays)} ends" if group is classifiers and arrays else ""
            print(f"submitted {len(group)} {group[0].model}s as job array {submitted[0].job_id.split('_')[0]}"
                  f"{after}", file=sys.stderr)
    if kind == "slurm":
        folder.mkdir(parents=True, exist_ok=True)
        known |= {key: job.job_id for key, (_, job) in jobs.items()}
        (folder / "submitted.json.part").write_text(json.dumps(known, indent=1))
        os.replace(folder / "submitted.json.part", record)
    return jobs


def wait_for(jobs: dict, progress: Progress, poll_s: float) -> None:
    """Wait for every job, reporting each run as it finishes or fails (with its job id and log); epochs of the
    runs still going are read from their checkpoints. A debug job runs, in this process, when first asked."""
    global _listener
    pending = dict(jobs)
    _listener = progress.epoch  # debug jobs run in this process and report here
    try:
        while pending:
            for key, (cfg, job) in list(pending.items()):
                try:
                    if not job.done():  # a debug job runs here, and fails here
                        continue
                    summary = job.result()
                except Exception as exc:
                    progress.fail(cfg, f"job {job.job_id}, log {job.paths.stderr}: {_reason(exc)}")
                else:
                    progress.done(cfg, summary)
                del pending[key]
            progress.read_checkpoints(pending)
            if pending:
                time.sleep(poll_s)
    finally:
        _listener = None


def launch(cfgs: list[Config], kind: str, settings: SlurmSettings, root: Path, poll_s: float = 20) -> None:
    """Train what `cfgs` lack through submitit (`kind` "slurm" or "debug"), waiting for the tasks."""
    missing = cache.plan_missing(cfgs, root)
    if not missing:
        print(f"all {len(cfgs)} runs are cached in {root}", file=sys.stderr)
        return
    print(f"{len(missing)} of {len(cfgs)} runs to train, one {kind} task each; task logs in "
          f"{logs_folder(settings, root)}/<job id>/", file=sys.stderr)
    jobs = submit(missing, kind, settings, root)
    progress = Progress(missing, root)
    try:
        wait_for(jobs, progress, poll_s if kind == "slurm" else 0)
    except KeyboardInterrupt:
        progress.bar.close()
        if kind == "slurm":
            print("stopped waiting; the tasks go on in Slurm (squeue --me); run the same command again to wait "
                  "for them (nothing is submitted twice)", file=sys.stderr)
        raise
    progress.close()
    progress.check()


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, as every bad input in this project
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _number(minimum: int):
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: an integer >= {minimum}")
        return int(text)
    return parse


def main(argv=None) -> int:
    """`make runs`: train every run of a profile's report with the chosen executor."""
    parser = _Parser(prog="python -m fmnist_lib.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--executor", choices=EXECUTORS, default="local")
    parser.add_argument("--workers", type=_number(1), help="local: parallel processes (default: one per core)")
    parser.add_argument("--config", help="slurm/debug: a YAML file of settings (see slurm.example.yaml)")
    parser.add_argument("--partition")
    parser.add_argument("--time-min", type=_number(1))
    parser.add_argument("--gpus-per-task", type=_number(0))
    parser.add_argument("--cpus-per-task", type=_number(1))
    parser.add_argument("--array-parallelism", type=_number(1))
    parser.add_argument("--slurm-args", default="", help="extra sbatch options, e.g. '--account=abc --qos=high'")
    args = parser.parse_args(argv)
    try:
        get_profile(args.profile)
        root = runs_dir().resolve()
        check_flock(root)
        if args.executor == "local":
            from .experiments import train_all

            train_all(args.profile, args.workers)
        else:
            from .experiments import all_configs

            settings = load_settings(args.config, args.slurm_args, partition=args.partition,
                                     time_min=args.time_min, gpus_per_task=args.gpus_per_task,
                                     cpus_per_task=args.cpus_per_task, array_parallelism=args.array_parallelism)
            launch(all_configs(args.profile), args.executor, settings, root)
    except (ConfigError, LaunchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunsFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: one line (launch() has said its own for Slurm, whose tasks go on)
        if args.executor != "slurm":
            print(f"interrupted: the runs that finished stay in the run cache {runs_dir()}; run the same command "
                  f"again to train the rest", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
