"""Training on a Slurm cluster: each missing run one task of a job array through submitit (the autoencoders first,
the classifiers after them), or the same code path in this process (submitit's debug executor): the Slurm settings,
sbatch's quirks, the check that the run cache grants flock, and the wait for the tasks under one progress view."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .config import Config
from .runner import LaunchError, Progress, TrainRun

try:  # the `slurm` extra: only EXECUTOR=slurm|debug needs it
    import submitit
except ImportError:
    submitit = None

# Slurm states of a job that is still going to produce its run: a re-run waits for it instead of submitting again
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUE_HOLD",
          "REQUEUE_FED", "STAGE_OUT", "SIGNALING"}


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


if submitit is not None:
    class _SlurmStates(submitit.slurm.slurm.SlurmInfoWatcher):
        """Job states as submitit reads them, from sacct; where the site keeps no accounting (sacct fails: "Slurm
        accounting storage is disabled"), from squeue, on which a job no longer listed has ended (state ENDED).
        Every state of ACTIVE is not done (submitit's own list lacks SIGNALING, which a task at its warning
        signal passes through)."""

        sacct: bool | None = None  # whether sacct answers; None until first asked

        def _make_command(self):
            command = super()._make_command()
            if command is not None and self.sacct is None:
                try:
                    self.sacct = subprocess.run(command, capture_output=True, timeout=60).returncode == 0
                except (OSError, subprocess.SubprocessError):
                    self.sacct = False
            return command if command is None or self.sacct else ["squeue", "--me", "--states=all",
                                                                   "--format=%i|%T"]

        def read_info(self, string):
            if self.sacct:
                return super().read_info(string)
            text = string.decode() if isinstance(string, bytes) else string
            listed = super().read_info("JobID|State\n" + text.partition("\n")[2])  # squeue's header: JOBID|STATE
            return listed | {job: {"State": "ENDED"} for job in self._registered - self._finished - set(listed)}

        def is_done(self, job_id: str, mode: str = "standard") -> bool:
            return self.get_state(job_id, mode).upper() not in ACTIVE | {"UNKNOWN", "READY", "PREEMPTED"}


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
    submitit.SlurmJob.watcher = _SlurmStates(delay_s=60)  # every SlurmJob's, array tasks' too (not job_class)
    return executor


def logs_folder(settings: SlurmSettings, root: Path) -> Path:
    return Path(settings.logs).resolve() if settings.logs else root / ".submitit"


def _job_state(folder: Path, job_id: str) -> str:
    return submitit.SlurmJob(folder=folder / "%j", job_id=job_id).state


def submit(missing: list[Config], kind: str, settings: SlurmSettings, root: Path, on_epoch=None) -> dict:
    """Submit `missing` as one task each: the autoencoders as one job array, then the classifiers as a second
    that Slurm starts after the first has ended (afterany: a classifier whose autoencoder failed trains it
    itself). Runs whose task from an earlier submission is still queued or running are waited for, not submitted
    again. `on_epoch`: TrainRun's, for a debug task (a Slurm task prints its epochs). {key: (config, job)}."""
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
    task = TrainRun(root, on_epoch=on_epoch)
    for group in (autoencoders, classifiers):
        if not group:
            continue
        arrays = sorted({j.job_id.split("_")[0] for c, j in jobs.values() if c.model == "autoencoder"})
        if kind == "slurm":
            executor.update_parameters(dependency="afterany:" + ":".join(arrays)
                                       if group is classifiers and arrays else None)
        submitted = executor.map_array(task, group)
        jobs |= {c.key(): (c, j) for c, j in zip(group, submitted)}
        if kind == "slurm":  # recorded as soon as submitted: a Ctrl-C before the next array loses none
            folder.mkdir(parents=True, exist_ok=True)
            known |= {key: job.job_id for key, (_, job) in jobs.items()}
            (folder / "submitted.json.part").write_text(json.dumps(known, indent=1))
            os.replace(folder / "submitted.json.part", record)
            after = f", to start after {', '.join(arrays)} ends" if group is classifiers and arrays else ""
            print(f"submitted {len(group)} {group[0].model}s as job array {submitted[0].job_id.split('_')[0]}"
                  f"{after}", file=sys.stderr)
    return jobs


def task_reason(exc: BaseException) -> str:
    """One line for a failed task: the last error line of its traceback, its Slurm state, or the exception."""
    text = str(exc)
    errors = re.findall(r"^\s*([\w.]+(?:Error|Exception|Interrupt)\b.*)$", text, re.M)
    if submitit is not None and isinstance(exc, submitit.core.utils.FailedJobError) and errors:
        return errors[-1].strip()
    if submitit is not None and isinstance(exc, submitit.core.utils.UncompletedJobError):
        state = re.search(r"state: (\w+)", text)
        return f"the task ended without a result (Slurm state {state.group(1) if state else 'unknown'})"
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def wait_for(jobs: dict, progress: Progress, poll_s: float) -> None:
    """Wait for every job, reporting each run as it finishes or fails (with its job id and log); epochs of the
    runs still going are read from their checkpoints. A debug job runs, in this process, when first asked."""
    pending = dict(jobs)
    while pending:
        for key, (cfg, job) in list(pending.items()):
            try:
                if not job.done():  # a debug job runs here, and fails here
                    continue
                summary = job.result()
            except Exception as exc:
                progress.fail(cfg, f"job {job.job_id}, log {job.paths.stderr}: {task_reason(exc)}")
            else:
                progress.done(cfg, summary)
            del pending[key]
        progress.read_checkpoints(pending)
        if pending:
            time.sleep(poll_s)


def train_slurm(missing: list[Config], kind: str, settings: SlurmSettings, root: Path, poll_s: float = 20) -> None:
    """Train `missing` through submitit (`kind` "slurm" or "debug"), waiting for the tasks."""
    print(f"{len(missing)} runs to train, one {kind} task each; task logs in "
          f"{logs_folder(settings, root)}/<job id>/", file=sys.stderr)

    def on_epoch(cfg: Config, done: int) -> None:  # a debug task runs in this process, within wait_for
        progress.epoch(cfg.key(), done)

    jobs, progress = {}, None
    try:
        jobs = submit(missing, kind, settings, root, on_epoch=on_epoch if kind == "debug" else None)
        progress = Progress(missing, root)  # after submit's lines; a Slurm task's epochs are read from checkpoints
        wait_for(jobs, progress, poll_s if kind == "slurm" else 0)
    except KeyboardInterrupt:
        if progress is not None:
            progress.bar.close()
        if kind == "slurm":  # jobs is empty when Ctrl-C came while submitting: then the job name finds them
            arrays = sorted({job.job_id.split("_")[0] for _, job in jobs.values()}, key=int)
            watch, cancel = (f"squeue -j {','.join(arrays)}", f"scancel {' '.join(arrays)}") if arrays else \
                ("squeue --me --name=fmnist", "scancel --me --name=fmnist")
            print(f"stopped waiting; the tasks go on in Slurm (watch: {watch}; cancel: {cancel}); the same "
                  f"command again waits for them and submits nothing twice", file=sys.stderr)
        raise
    progress.close()
    progress.check()
