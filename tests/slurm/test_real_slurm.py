"""make runs EXECUTOR=slurm against a real Slurm cluster (one node, this machine): the two arrays and their
dependency, Ctrl-C, a second launch while tasks are queued, results equal to the local executor's, a requeue mid-run,
both time-limit paths, and a failing task."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from fmnist_lib import cache
from fmnist_lib.config import make_config
from fmnist_lib.plan import all_configs
from fmnist_lib.train import fit

from ..conftest import ROOT
from ..test_resume import assert_same_run
from .conftest import finish, job_table, settings_file, slurm_env, start_launch, submitted, task_pid

pytestmark = [pytest.mark.slurm_cluster, pytest.mark.slow]


def wait_until(what: str, ready, timeout: float, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (value := ready()):
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(poll)
    return value


def array_of(job_id: str) -> str:
    return job_id.split("_")[0]


def task_log(runs, job_id: str, stream: str = "out") -> str:
    return (runs / ".submitit" / job_id / f"{job_id}_0_log.{stream}").read_text()


# --- the smoke profile through make, once for the tests below --------------------------------------------------

@pytest.fixture(scope="module")
def smoke(slurm_cluster):
    """`make runs PROFILE=smoke EXECUTOR=slurm` until both arrays are submitted, then Ctrl-C (SIGINT to its process
    group, as a terminal sends it), then the same command again until every run is trained; what each printed and
    what Slurm showed on the way."""
    tmp = slurm_cluster.root / "tests" / "smoke"
    tmp.mkdir(parents=True)
    env = slurm_env(slurm_cluster, tmp)
    command = ["make", "runs", "PROFILE=smoke", "EXECUTOR=slurm", f"REPORTS={tmp / 'reports'}",
               f"SLURM_CONFIG={settings_file(tmp / 'slurm.yaml')}"]
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    said = []
    try:
        for line in first.stderr:  # the launcher's lines before its bar
            said.append(line)
            if "classifiers as job array" in line:
                break
        assert said and "classifiers as job array" in said[-1], "".join(said)
        queued = job_table(slurm_cluster)
        arrays = re.search(r"array (\d+), to start after (\d+) ends", said[-1]).group(2, 1)  # (autoencoders, clf)
        dependency = slurm_cluster.run("scontrol", "show", "job", arrays[1])
        os.killpg(first.pid, signal.SIGINT)
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    after_ctrl_c = job_table(slurm_cluster)
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    # the last task has written its result, and its process ends a moment later
    wait_until("every task's end", lambda: not slurm_cluster.run("squeue", "-h").strip(), timeout=120, poll=0.5)
    return SimpleNamespace(runs=tmp / "runs", tmp=tmp, env=env, arrays=arrays, queued=queued, dependency=dependency,
                           first_err="".join(said) + err.replace("\r", "\n"), first_out=out,
                           first_code=first.returncode, after_ctrl_c=after_ctrl_c, second=second,
                           second_err=second.stderr.replace("\r", "\n"), final=job_table(slurm_cluster))


def smoke_counts() -> tuple[int, int]:
    """(autoencoders, classifiers) of the smoke profile's plan: the two arrays' sizes from an empty cache."""
    cfgs = all_configs("smoke")
    n_ae = sum(c.model == "autoencoder" for c in cfgs)
    return n_ae, len(cfgs) - n_ae


def test_smoke_profile_is_two_arrays_and_the_classifiers_start_after_the_autoencoders_end(smoke):
    (ae, clf), (n_ae, n_clf) = smoke.arrays, smoke_counts()
    assert n_ae > 0 and n_clf > 0
    assert f"submitted {n_ae} autoencoders as job array {ae}\n" in smoke.first_err
    assert f"submitted {n_clf} classifiers as job array {clf}, to start after {ae} ends" in smoke.first_err
    # Slurm's own view of the dependency, while the autoencoders run
    assert re.search(rf"\bDependency=afterany:{ae}(_\*)?\(unfulfilled\)", smoke.dependency), smoke.dependency
    assert re.search(r"\bJobState=PENDING\b", smoke.dependency), smoke.dependency
    assert {array_of(j) for j in smoke.queued} == {ae, clf}
    assert all(row["state"] == "PENDING" for j, row in smoke.queued.items() if array_of(j) == clf)
    # and in the end: every task completed, every classifier started once every autoencoder had ended
    tasks = {j: row for j, row in smoke.final.items() if "[" not in j}
    assert sorted(j for j in tasks if array_of(j) == ae) == sorted(f"{ae}_{i}" for i in range(n_ae))
    assert sorted(j for j in tasks if array_of(j) == clf) == sorted(f"{clf}_{i}" for i in range(n_clf))
    assert {row["state"] for row in tasks.values()} == {"COMPLETED"}
    last_ae_end = max(row["end"] for j, row in tasks.items() if array_of(j) == ae)  # ISO times sort as text
    assert min(row["start"] for j, row in tasks.items() if array_of(j) == clf) >= last_ae_end


def test_ctrl_c_leaves_the_tasks_running_and_says_so_in_one_line(smoke):
    ae, clf = smoke.arrays
    assert smoke.first_code != 0
    said = [l for l in smoke.first_err.splitlines() if "stopped waiting" in l]
    assert said == [f"stopped waiting; the tasks go on in Slurm (watch: squeue -j {ae},{clf}; cancel: scancel {ae} "
                    f"{clf}); the same command again waits for them and submits nothing twice"], smoke.first_err
    assert "Traceback" not in smoke.first_err
    states = {row["state"] for row in smoke.after_ctrl_c.values()}
    assert "CANCELLED" not in states and states & {"PENDING", "RUNNING"}, smoke.after_ctrl_c
    assert {array_of(j) for j in smoke.after_ctrl_c} == {ae, clf}


def test_the_same_command_again_submits_nothing_twice_and_waits_for_every_run(smoke):
    assert smoke.second.returncode == 0, smoke.second_err[-3000:]
    assert re.search(r"^\d+ runs are still queued or running from an earlier submission: waiting for them$",
                     smoke.second_err, re.M), smoke.second_err[-3000:]
    assert "submitted" not in smoke.second_err
    assert {array_of(j) for j in smoke.final} == set(smoke.arrays)  # no third job: nothing submitted again
    records = submitted(smoke.runs)
    assert len(records) == sum(smoke_counts()) and {array_of(j) for j in records.values()} == set(smoke.arrays)


def test_every_run_lands_in_the_cache_equal_to_the_local_executors(smoke):
    """Bit for bit: same machine, one thread per run in both."""
    cfgs = all_configs("smoke")
    assert len(cfgs) == sum(smoke_counts()) and all(cache.is_cached(c, smoke.runs) for c in cfgs)
    assert not list((smoke.runs / ".tmp").glob("*.ckpt"))
    env = {**smoke.env, "FMNIST_RUNS": str(smoke.tmp / "local-runs")}
    local = subprocess.run([sys.executable, "-m", "fmnist_lib.launch", "smoke", "--executor", "local",
                            "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert local.returncode == 0, local.stderr[-3000:]
    for cfg in cfgs:
        on_slurm, here = cache.load(cfg, smoke.runs), cache.load(cfg, smoke.tmp / "local-runs")
        assert on_slurm.meta["threads"] == here.meta["threads"] == 1
        assert_same_run(on_slurm, here)


# --- a requeue in mid-run (a preemption) ------------------------------------------------------------------------

def test_a_requeued_task_resumes_from_its_checkpoint_and_ends_bit_for_bit(slurm_cluster, slurm_tmp, capsys):
    """`scontrol requeue` of a running task after its first epochs: Slurm kills it (SIGTERM, which submitit
    ignores, then SIGKILL) and starts it again; it resumes after its last checkpointed epoch and ends as a run
    never interrupted does."""
    run = {"model": "autoencoder", "epochs": 8, "train_size": 4000}
    cfg, runs = make_config("smoke", **run), slurm_tmp / "runs"
    proc = start_launch([run], settings_file(slurm_tmp / "s.yaml"), slurm_env(slurm_cluster, slurm_tmp))
    ckpt = cache.checkpoint_path(cfg, runs)
    wait_until("a first checkpoint", ckpt.exists, timeout=300, poll=0.02)
    before = torch.load(ckpt, weights_only=True)["epoch"]
    job = submitted(runs)[cfg.key()]
    slurm_cluster.run("scontrol", "requeue", job)
    state = wait_until("the requeue", lambda: (s := job_table(slurm_cluster)[job]["state"]) != "RUNNING" and s,
                       timeout=30)
    out, err = finish(proc, timeout=300)
    assert proc.returncode == 0, err[-3000:]
    resumed = json.loads((cache.entry_dir(cfg, runs) / "meta.json").read_text()).get("resumed_at_epoch")
    log = task_log(runs, job)
    starts = log.count("Starting with JobEnvironment")
    after = [int(m) for m in re.findall(r"epoch (\d+)/8", log.split("Starting with JobEnvironment")[-1])]
    assert "DUE TO JOB REQUEUE" in task_log(runs, job, "err") and starts == 2
    assert resumed is not None and 1 <= before <= resumed < 8 and after == list(range(resumed, 9))
    assert f"resumed at epoch {resumed}" in out
    assert_same_run(fit(cfg, progress=False), cache.load(cfg, runs))
    with capsys.disabled():
        print(f"\nrequeue evidence: job {job} requeued with its checkpoint at epoch {before} (then {state}); "
              f"it started {starts} times, resumed at epoch {resumed}, trained epochs {after[1:]} after it; "
              f"history and weights equal an uninterrupted run's")


# --- time limits: submitit's checkpoint hook (srun), or TIMEOUT and the same command again (no srun) -------------

def test_a_task_past_its_time_limit_is_requeued_or_ends_timeout_then_resumes(slurm_cluster, slurm_tmp):
    """Two runs at once, each stopped (SIGSTOP) after its first checkpoint, so that its time limit comes first
    whatever this machine's speed. With srun and time_min 3, Slurm's warning (SIGCONT, then the USR2 submitit asks
    for 90 s before the limit; Slurm checks every 30 s) wakes the task, submitit's checkpoint hook requeues it, and
    it resumes. Without srun (use_srun: false) the warning reaches no task: Slurm ends it as TIMEOUT, the launcher
    says so with the job id and log, and the same command again resumes it."""
    run = {"model": "autoencoder", "epochs": 6, "train_size": 2000}
    cfg = make_config("smoke", **run)
    paths = {}
    for name, settings in (("hook", {"time_min": 3}), ("timeout", {"time_min": 1, "use_srun": False})):
        tmp = slurm_tmp / name
        tmp.mkdir()
        env = slurm_env(slurm_cluster, tmp, FMNIST_TEST_TASK=str(tmp))  # unique to this session's cluster
        paths[name] = SimpleNamespace(runs=tmp / "runs", env=env, settings=settings_file(tmp / "s.yaml", **settings),
                                      marker=f"FMNIST_TEST_TASK={tmp}")
        paths[name].proc = start_launch([run], paths[name].settings, env)
    for p in paths.values():  # both tasks run at once (one CPU each)
        wait_until("a first checkpoint", cache.checkpoint_path(cfg, p.runs).exists, timeout=300, poll=0.05)
        os.kill(wait_until("the task's process", lambda: task_pid(p.marker), timeout=30), signal.SIGSTOP)
    hook, timeout = paths["hook"], paths["timeout"]

    out, err = finish(hook.proc, timeout=400)
    assert hook.proc.returncode == 0, err[-3000:]
    job = submitted(hook.runs)[cfg.key()]
    log = task_log(hook.runs, job)
    assert "Caught signal SIGUSR2" in log and f"Requeued job {job}" in log
    assert log.count("Starting with JobEnvironment") >= 2
    resumed = json.loads((cache.entry_dir(cfg, hook.runs) / "meta.json").read_text()).get("resumed_at_epoch")
    assert resumed is not None and resumed >= 1 and f"resumed at epoch {resumed}" in out

    out, err = finish(timeout.proc, timeout=300)  # Slurm's time limit ended the stopped task
    job = submitted(timeout.runs)[cfg.key()]
    assert timeout.proc.returncode == 1, err[-3000:]
    assert (f"FAILED {cfg.label()} ({cfg.key()}): job {job}, log {timeout.runs / '.submitit' / job}/{job}_0_log.err: "
            f"the task ended without a result (Slurm state TIMEOUT)") in out
    assert "DUE TO TIME LIMIT" in task_log(timeout.runs, job, "err")
    assert not cache.is_cached(cfg, timeout.runs) and cache.checkpoint_path(cfg, timeout.runs).exists()
    for _ in range(5):  # the same command again, until the run completes: each resumes from its last epoch
        again = start_launch([run], timeout.settings, timeout.env)
        out, err = finish(again, timeout=300)
        if again.returncode == 0:
            break
        assert "(Slurm state TIMEOUT)" in out, err[-3000:]  # a loaded machine: a minute was not enough again
    assert again.returncode == 0, err[-3000:]
    resumed = json.loads((cache.entry_dir(cfg, timeout.runs) / "meta.json").read_text()).get("resumed_at_epoch")
    assert resumed is not None and resumed >= 1 and f"resumed at epoch {resumed}" in out


# --- a failing task ---------------------------------------------------------------------------------------------

def test_a_failing_task_is_reported_with_its_job_id_and_log_and_the_others_finish(slurm_cluster, slurm_tmp):
    """Task 1 of the array gets a data path that does not exist (a setup line of slurm.yaml, run in its batch
    script): it fails with the data's error, named with its job id and log, and tasks 0 and 2 finish."""
    runs = [{"model": "autoencoder", "seed": s} for s in range(3)]
    cfgs = [make_config("smoke", **r) for r in runs]
    settings = settings_file(slurm_tmp / "s.yaml", setup=[
        'if [ "$SLURM_ARRAY_TASK_ID" = 1 ]; then export FMNIST_DATA=/nonexistent; fi'])
    proc = start_launch(runs, settings, slurm_env(slurm_cluster, slurm_tmp))
    out, err = finish(proc, timeout=300)
    assert proc.returncode == 1
    jobs = submitted(slurm_tmp / "runs")
    bad = jobs[cfgs[1].key()]
    assert bad.endswith("_1")
    log = slurm_tmp / "runs" / ".submitit" / bad / f"{bad}_0_log.err"
    assert (f"FAILED {cfgs[1].label()} ({cfgs[1].key()}): job {bad}, log {log}: fmnist_lib.data.DataError: missing "
            f"data file /nonexistent/FashionMNIST/raw/train-images-idx3-ubyte") in out
    assert "Traceback" in log.read_text() and "DataError" in log.read_text()
    assert [cache.is_cached(c, slurm_tmp / "runs") for c in cfgs] == [True, False, True]
    assert out.count("\ndone autoencoder") + out.startswith("done autoencoder") == 2
    assert f"error: 1 of 3 runs failed" in err
