"""A real one-node Slurm cluster for the test session (tests/slurm/cluster.py), and what the tests drive it with.

Where it cannot start (not root, Slurm or munge not installed, a daemon that fails), the tests that use it skip with
one line; with FMNIST_REQUIRE_SLURM=1 (CI) they fail instead.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from ..conftest import ROOT
from .cluster import Cluster, ClusterError, processes_with, why_not


def _unavailable(reason: str):
    if os.environ.get("FMNIST_REQUIRE_SLURM") == "1":
        pytest.fail(f"FMNIST_REQUIRE_SLURM=1 and no Slurm test cluster: {reason}", pytrace=False)
    pytest.skip(f"no Slurm test cluster: {reason.splitlines()[0]}")


@pytest.fixture(scope="session")
def slurm_cluster(request):
    """munged, slurmctld and slurmd started for the session, stopped after it by their PIDs. Its folder (config,
    state, logs, and the tests' run caches: slurm_tmp) lies outside pytest's numbered folders, which a pytest
    session running beside this one may remove; it is removed after the session unless a test failed."""
    reason = why_not()
    if reason:
        _unavailable(reason)
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="fmnist-slurm-")))
    try:
        cluster.start()
    except ClusterError as exc:
        shutil.rmtree(cluster.root, ignore_errors=True)
        _unavailable(f"it did not start: {exc}")
    yield cluster
    cluster.stop()
    if not request.session.testsfailed:
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture
def slurm_tmp(slurm_cluster, request) -> Path:
    """An empty folder for one test, in the cluster's folder."""
    path = slurm_cluster.root / "tests" / re.sub(r"\W", "_", request.node.name)
    path.mkdir(parents=True)
    return path


@pytest.fixture(autouse=True)
def no_jobs_left(request):
    """Each test leaves the cluster with no job queued or running, whatever it did."""
    yield
    cluster = request.node.funcargs.get("slurm_cluster")  # absent where the test skipped or had none
    if cluster is not None:
        cluster.clear()


def slurm_env(cluster: Cluster, tmp: Path, **extra) -> dict:
    """The environment of a launcher: the cluster's Slurm config, a run cache in `tmp`, no results store."""
    return {**os.environ, **cluster.env, "FMNIST_RUNS": str(tmp / "runs"), "FMNIST_STORE": str(tmp / "no-store"),
            "FMNIST_REPORTS": str(tmp / "reports"), **extra}


def settings_file(path: Path, **settings) -> Path:
    """A slurm.yaml for this one-node cluster: one CPU and 1 GB a task (two tasks at a time), and `settings`."""
    path.write_text(yaml.safe_dump({"cpus_per_task": 1, "mem_gb": 1, "time_min": 10, **settings}))
    return path


# The launcher's own code path for a list of runs longer than the smoke profile's (the CLI only takes a profile):
# what `make runs EXECUTOR=slurm` calls after its plan, polling every second.
_LAUNCH = """\
import json, sys
from fmnist_lib.config import make_config
from fmnist_lib.launch import plan_missing
from fmnist_lib.paths import runs_dir
from fmnist_lib.runner import RunsFailed
from fmnist_lib.slurm import load_settings, train_slurm
spec, root = json.loads(sys.argv[1]), runs_dir().resolve()
missing = plan_missing([make_config("smoke", **run) for run in spec["runs"]], root)
try:
    train_slurm(missing, "slurm", load_settings(spec["settings"]), root, poll_s=1)
except RunsFailed as exc:
    sys.exit(f"error: {exc}")
"""


def start_launch(runs: list[dict], settings: Path, env: dict) -> subprocess.Popen:
    """The launcher, for `runs` (make_config's overrides of the smoke profile), in the background."""
    return subprocess.Popen([sys.executable, "-c", _LAUNCH, json.dumps({"runs": runs, "settings": str(settings)})],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """stdout and stderr (the bar's frames as lines) of a launcher, once it has ended."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the launcher did not end in {timeout} s:\n{err[-3000:]}")
    return out, err.replace("\r", "\n")


def job_table(cluster: Cluster) -> dict[str, dict]:
    """Every job the cluster still knows (squeue, 5 minutes after the end): {job id: state, start, end, ...}; a
    pending array's tasks are one row, e.g. 7_[3-16%32]."""
    fields = ("state", "reason", "start", "end", "dependency")
    rows = {}
    for line in cluster.run("squeue", "-h", "-t", "all", "-o", "%i|%T|%r|%S|%e|%E").splitlines():
        job, *values = line.split("|")
        rows[job] = dict(zip(fields, values))
    return rows


def submitted(runs: Path) -> dict[str, str]:
    """The launcher's record of submitted tasks: {run key: Slurm job id}."""
    return json.loads((runs / ".submitit" / "submitted.json").read_text())


def task_pid(marker: str) -> int | None:
    """The training process (submitit's task, not srun) of the one job whose environment holds `marker`."""
    for pid in processes_with(marker):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"python") or re.search(rb"python[\d.]*$", argv[0]):
            if b"submitit.core._submit" in argv:
                return pid
    return None
