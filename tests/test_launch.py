"""make runs EXECUTOR=local|slurm|debug: GPU pinning, the progress view, failures, the sbatch scripts, flock."""

import errno
import json
import os
import queue
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fmnist_lib import cache, launch, pool, runner, slurm
from fmnist_lib.config import Config, make_config
from fmnist_lib.plan import all_configs
from fmnist_lib.train import RunResult, fit

from .conftest import ROOT, processes_with
from .test_resume import assert_same_run

submitit = pytest.importorskip("submitit")


@pytest.fixture(autouse=True)
def no_store(tmp_path, monkeypatch):
    """No published results store: every run of a plan is missing."""
    monkeypatch.setenv("FMNIST_STORE", str(tmp_path / "no-store"))


def run_py(*args, env):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=900)


def tiny(**kw):
    return Config(**{"epochs": 2, "train_size": 200, "eval_size": 50, **kw})


# --- GPUs of one box -------------------------------------------------------------------------------------------

def test_workers_are_spread_over_the_gpus_runs_per_gpu_each():
    assert pool.worker_devices(["0", "1"], 2, workers=16, runs=40) == ["0", "1", "0", "1"]
    assert pool.worker_devices(["0", "1", "2"], 1, workers=16, runs=40) == ["0", "1", "2"]
    assert pool.worker_devices(["0", "1"], 2, workers=16, runs=3) == ["0", "1", "0"]  # each GPU gets one first
    assert pool.worker_devices(["0", "1"], 2, workers=1, runs=40) == ["0"]
    assert pool.worker_devices(["3"], 4, workers=16, runs=40) == ["3"] * 4
    assert pool.worker_devices([], 2, workers=4, runs=40) == [None] * 4  # CPU: today's workers
    assert pool.worker_devices([], 2, workers=4, runs=1) == [None]


def test_visible_gpus_keep_the_parents_own_list(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert pool.visible_gpus() == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert pool.visible_gpus() == ["3", "5"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pool.visible_gpus() == []


def test_each_worker_takes_one_device_and_reports_epochs(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # restored after the test
    monkeypatch.setattr(pool, "_events", None)  # a worker's own queue: restored after the test
    devices, events = queue.Queue(), queue.Queue()
    for device in pool.worker_devices(["0", "1"], 2, workers=8, runs=8):
        devices.put(device)
    seen = []
    for _ in range(4):  # four workers start, in turn
        pool._init_worker(devices, events)
        seen.append(os.environ["CUDA_VISIBLE_DEVICES"])
    pool._send_epoch(tiny(), 1)
    assert seen == ["0", "1", "0", "1"] and devices.empty()
    assert events.get_nowait() == (tiny().key(), 1)


def test_runs_per_gpu_is_checked(monkeypatch):
    monkeypatch.setenv("FMNIST_RUNS_PER_GPU", "0")
    with pytest.raises(pool.ConfigError, match="RUNS_PER_GPU='0' is not allowed; allowed: an integer >= 1"):
        pool.runs_per_gpu()


# --- one progress view, failures ------------------------------------------------------------------------------

def test_progress_counts_epochs_and_runs_and_prints_a_line_per_run(tmp_path, capsys):
    a, b = tiny(), tiny(model="classifier", epochs=3)
    progress = runner.Progress([a, b], tmp_path)
    progress.epoch(a.key(), 1)
    progress.epoch(b.key(), 2)
    progress.epoch(b.key(), 1)  # stale news changes nothing
    progress.epoch("someone-else", 5)
    assert progress.bar.n == 3
    progress.done(a, {"status": "ok", "epochs": 2, "metric": "val_loss", "value": 0.1, "seconds": 3.0})
    progress.fail(b, "job 7_1, log /logs/7_1_0_log.err: ValueError: boom")
    assert progress.bar.n == 5 and progress.bar.desc.startswith("runs 1/2, 1 failed")
    progress.close()
    with pytest.raises(runner.RunsFailed, match="1 of 2 runs failed"):
        progress.check()
    out = capsys.readouterr().out
    assert f"done {a.label()} ({a.key()}): 2 epochs in 3.0 s, val_loss 0.1000" in out
    assert f"FAILED {b.label()} ({b.key()}): job 7_1, log /logs/7_1_0_log.err: ValueError: boom" in out


def test_progress_reads_epochs_from_checkpoints_of_runs_trained_elsewhere(tmp_path, tiny_data):
    cfg = tiny(epochs=3)
    progress = runner.Progress([cfg], tmp_path)
    ckpt = cache.checkpoint_path(cfg, tmp_path)
    ckpt.parent.mkdir(parents=True)
    fit(cfg.replace(epochs=3), tiny_data, progress=False, checkpoint=ckpt, on_epoch=lambda d: None)
    progress.read_checkpoints([cfg.key()])
    assert progress.bar.n == 3
    progress.close()


def test_a_failed_run_is_reported_and_the_others_are_trained(tmp_path, tiny_data, monkeypatch, capsys):
    def fit_or_fail(cfg, **kw):
        if cfg.seed == 1:
            raise ValueError("boom")
        return fit(cfg, tiny_data, **kw)

    monkeypatch.setattr(cache, "fit", fit_or_fail)
    cfgs = [tiny(seed=s) for s in range(3)]
    with pytest.raises(runner.RunsFailed, match=r"1 of 3 runs failed .*seed=1.*ValueError: boom"):
        launch.ensure_runs(cfgs, workers=1, root=tmp_path)
    assert [cache.is_cached(c, tmp_path) for c in cfgs] == [True, False, True]
    out = capsys.readouterr().out
    assert out.count("done autoencoder") == 2 and f"FAILED {cfgs[1].label()}" in out


class FakeJob:
    def __init__(self, job_id, outcome):
        self.job_id, self.outcome = job_id, outcome
        self.paths = submitit.core.utils.JobPaths("/logs/%j", job_id=job_id)

    def done(self):
        return True

    def result(self):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_failed_slurm_tasks_are_reported_with_job_id_and_log_and_the_others_carry_on(tmp_path, capsys):
    cfgs = [tiny(seed=s) for s in range(3)]
    trace = ("Job (task=0) failed during processing with trace:\n----------------------\nTraceback (most recent "
             "call last):\n  File \"x.py\", line 1\nRuntimeError: CUDA out of memory\n----------------------\n")
    ok = {"status": "ok", "epochs": 2, "metric": "val_loss", "value": 0.1, "seconds": 3.0}
    jobs = {c.key(): (c, FakeJob(f"42_{i}", outcome)) for i, (c, outcome) in enumerate(zip(cfgs, [
        submitit.core.utils.FailedJobError(trace), ok,
        submitit.core.utils.UncompletedJobError("Job 42_2 (task: 0) with path x\nhas not produced any output "
                                                "(state: TIMEOUT)")]))}
    progress = runner.Progress(cfgs, tmp_path)
    slurm.wait_for(jobs, progress, poll_s=0)
    progress.close()
    out = capsys.readouterr().out
    assert f"FAILED {cfgs[0].label()}" in out and \
        "job 42_0, log /logs/42_0/42_0_0_log.err: RuntimeError: CUDA out of memory" in out
    assert f"done {cfgs[1].label()}" in out
    assert "job 42_2, log /logs/42_2/42_2_0_log.err: the task ended without a result (Slurm state TIMEOUT)" in out


# --- Slurm: the sbatch scripts, without a cluster -------------------------------------------------------------

@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """srun and sbatch on PATH: sbatch keeps each script it is given and answers job ids 4242, 4243, ..."""
    bin_, scripts = tmp_path / "bin", tmp_path / "scripts"
    bin_.mkdir()
    scripts.mkdir()
    (bin_ / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_ / "sbatch").write_text(f"""#!/bin/sh
n=$(ls {scripts} | wc -l)
cp "$1" {scripts}/$n.sh
echo "Submitted batch job $((4242 + n))"
""")
    for f in bin_.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")
    return lambda: [p.read_text() for p in sorted(scripts.iterdir(), key=lambda p: int(p.stem))]


def sbatch_options(script: str) -> dict:
    return dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", script, re.M))


def test_sbatch_scripts_of_the_two_arrays(tmp_path, fake_slurm):
    missing = launch.plan_missing(all_configs("smoke"), tmp_path)
    settings = slurm.load_settings(None, "--account=abc --qos=high --exclusive", partition="gpu", time_min=90,
                                    gpus_per_task=1, cpus_per_task=4, array_parallelism=5)
    jobs = slurm.submit(missing, "slurm", settings, tmp_path)
    ae, clf = fake_slurm()
    a, c = sbatch_options(ae), sbatch_options(clf)
    n_ae = sum(m.model == "autoencoder" for m in missing)
    assert 0 < n_ae < len(missing) == len(all_configs("smoke"))  # an empty cache: every run, both arrays
    assert a["array"] == f"0-{n_ae - 1}%5" and c["array"] == f"0-{len(missing) - n_ae - 1}%5"
    for opts in (a, c):
        assert opts["gpus-per-task"] == "1" and opts["time"] == "90" and opts["cpus-per-task"] == "4"
        assert opts["partition"] == "gpu" and opts["account"] == "abc" and opts["qos"] == "high"
        assert "exclusive" in opts and opts["mem"] == "8GB" and opts["signal"] == "USR2@90"
        assert "wckey" not in opts  # submitit's --wckey=submitit, refused by some sites, is left out
    assert "dependency" not in a and c["dependency"] == "afterany:4242"  # classifiers after the autoencoders
    assert re.search(r"^srun --unbuffered .* -u -m submitit.core._submit ", ae, re.M)
    assert {j.job_id for _, j in jobs.values()} == ({f"4242_{i}" for i in range(n_ae)}
                                                   | {f"4243_{i}" for i in range(len(missing) - n_ae)})
    record = json.loads((tmp_path / ".submitit" / "submitted.json").read_text())
    assert record == {key: job.job_id for key, (_, job) in jobs.items()}


def test_site_quirks_gres_wckey_and_no_srun(tmp_path, fake_slurm):
    yaml_file = tmp_path / "slurm.yaml"
    yaml_file.write_text("gres: gpu:a100:1\nwckey: myproject\nuse_srun: false\ntime_min: 30\n"
                         "setup: [module load cuda]\nadditional: {constraint: a100}\n")
    settings = slurm.load_settings(str(yaml_file), time_min=45)  # the make variable wins over the file
    slurm.submit([tiny()], "slurm", settings, tmp_path)
    (script,) = fake_slurm()
    opts = sbatch_options(script)
    assert opts["gres"] == "gpu:a100:1" and "gpus-per-task" not in opts and opts["wckey"] == "myproject"
    assert opts["time"] == "45" and opts["constraint"] == "a100" and "array" not in opts  # one run: a plain job
    assert "\nmodule load cuda\n" in script and not re.search(r"^srun ", script, re.M)


def test_a_rerun_submits_only_what_is_missing_and_not_what_is_still_queued(tmp_path, fake_slurm, monkeypatch):
    missing = launch.plan_missing(all_configs("smoke"), tmp_path)
    first = slurm.submit(missing, "slurm", slurm.load_settings(), tmp_path)
    done, queued, failed = missing[:5], missing[5:20], missing[20:]
    for cfg in done:  # finished: an entry that reads back (its numbers do not matter here)
        cache.save(RunResult(cfg, {"train_loss": [1.0]}, "ok", {}, {}), tmp_path)
    states = {first[c.key()][1].job_id: "PENDING" for c in queued}
    monkeypatch.setattr(slurm, "_job_state", lambda folder, job_id: states.get(job_id, "FAILED"))
    again = slurm.submit(launch.plan_missing(all_configs("smoke"), tmp_path), "slurm", slurm.load_settings(),
                          tmp_path)
    assert set(again) == {c.key() for c in queued + failed}
    assert all(again[c.key()][1].job_id == first[c.key()][1].job_id for c in queued)  # waited for, not resubmitted
    scripts = fake_slurm()[2:]  # the two arrays of the first submission, then the new ones
    assert [sbatch_options(s)["array"].split("%")[0] for s in scripts] == [f"0-{len(failed) - 1}"]
    assert sbatch_options(scripts[0]).get("dependency", "").startswith("afterany:4242")


def test_requeued_task_is_the_same_run():
    task = runner.TrainRun("/runs")
    again = task.checkpoint(tiny())  # what submitit requeues on preemption or time limit
    assert again.function is task and again.args == (tiny(),)


# --- bad input, flock -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["smoke", "--executor", "pbs"], "invalid choice: 'pbs'"),
    (["smoke", "--executor", "slurm", "--time-min", "0"], "'0' is not allowed; allowed: an integer >= 1"),
    (["smoke", "--executor", "debug", "--slurm-args", "-A abc"], "SLURM_ARGS: '-A' is not allowed"),
    (["nope"], "profile='nope' is not allowed"),
])
def test_bad_input_is_one_line(args, message, capsys):
    try:
        code = launch.main(args)
    except SystemExit as exc:  # argparse's refusals
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_the_committed_example_settings_are_valid():
    settings = slurm.load_settings(str(ROOT / "slurm.example.yaml"), "--qos=high")
    assert settings.partition == "gpu" and settings.gpus_per_task == 1 and settings.use_srun is True
    assert settings.additional == {"account": "my-account", "qos": "high"}
    assert slurm.sbatch_parameters(settings)["wckey"] is None


def test_bad_settings_file_is_one_line(tmp_path):
    path = tmp_path / "slurm.yaml"
    path.write_text("partition: gpu\ntime: 60\n")
    with pytest.raises(slurm.LaunchError, match=r"unknown setting 'time'; allowed: partition, time_min"):
        slurm.load_settings(str(path))
    path.write_text("use_srun: maybe\n")
    with pytest.raises(slurm.LaunchError, match=r"use_srun='maybe' is not allowed; allowed: true or false"):
        slurm.load_settings(str(path))
    with pytest.raises(slurm.LaunchError, match=r"cannot be read"):
        slurm.load_settings(str(tmp_path / "absent.yaml"))


def test_a_run_cache_without_flock_stops_with_one_line(tmp_path, monkeypatch, capsys):
    def refuse(fh, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(slurm.fcntl, "flock", refuse)
    assert launch.main(["smoke", "--executor", "debug"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "refuses flock (No locks available)" in err and "allowed: a run cache on a filesystem with flock" in err


def test_make_passes_the_slurm_settings(tmp_path):
    out = subprocess.run(["make", "-n", "runs", "PROFILE=smoke", f"REPORTS={tmp_path}", "EXECUTOR=slurm",
                          "PARTITION=gpu", "TIME_MIN=30", "GPUS_PER_TASK=1", "CPUS_PER_TASK=4",
                          "ARRAY_PARALLELISM=8", "SLURM_ARGS=--account=abc --qos=high", "SLURM_CONFIG="],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    line = next(l for l in out.stdout.splitlines() if "fmnist_lib.launch" in l)
    assert "smoke --executor 'slurm'" in line
    for opt in ("--partition='gpu'", "--time-min='30'", "--gpus-per-task='1'", "--cpus-per-task='4'",
                "--array-parallelism='8'", "--slurm-args='--account=abc --qos=high'"):
        assert opt in line
    assert "--config" not in line


# --- end to end ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_debug_executor_trains_the_smoke_profile_end_to_end(tmp_path):
    """The whole smoke plan through submitit's in-process executor, by the code Slurm runs."""
    n = len(all_configs("smoke"))
    env = {"FMNIST_RUNS": str(tmp_path / "runs")}
    first = run_py("-m", "fmnist_lib.launch", "smoke", "--executor", "debug", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("\ndone ") + first.stdout.startswith("done ") == n
    assert f"runs {n}/{n}" in first.stderr
    assert all(cache.is_cached(c, tmp_path / "runs") for c in all_configs("smoke"))
    assert not list((tmp_path / "runs" / ".tmp").glob("*.ckpt"))
    again = run_py("-m", "fmnist_lib.launch", "smoke", "--executor", "debug", env=env)
    assert again.returncode == 0 and f"all {n} runs are cached" in again.stderr


def test_the_pool_hands_out_a_pretrained_classifier_only_once_its_autoencoder_has_finished():
    frozen0, frozen1 = (tiny(model="classifier", encoder="pretrained-frozen", ae_epochs=2, seed=s) for s in (0, 1))
    ae0, ae1 = frozen0.autoencoder_config(), frozen1.autoencoder_config()
    assert (ae0, ae1) == (tiny(seed=0), tiny(seed=1))
    scratch = tiny(model="classifier", seed=2)
    assert pool.next_ready([frozen0, scratch, frozen1], running=[ae0]) is scratch  # ae0 trains: its classifier waits
    assert pool.next_ready([frozen0, frozen1], running=[ae0]) is frozen1  # ae1 finished (held or trained)
    assert pool.next_ready([frozen0, ae0], running=[]) is ae0  # an autoencoder still to train holds its classifier
    assert pool.next_ready([frozen0], running=[ae0, ae1]) is None  # nothing to start: the free worker waits
    assert pool.next_ready([frozen0], running=[ae1]) is frozen0


def test_dispatch_starts_a_classifier_after_its_autoencoder_and_fails_it_at_once_when_that_failed(tmp_path):
    """The pool's loop, with threads for workers: a pretrained classifier starts once its autoencoder has ended, an
    unrelated run fills the free worker meanwhile, and the classifiers of a failed autoencoder fail untried."""
    from concurrent.futures import ThreadPoolExecutor

    frozen0, finetune0, frozen1 = (tiny(model="classifier", encoder=e, ae_epochs=2, seed=s) for e, s in
                                   (("pretrained-frozen", 0), ("pretrained-finetune", 0), ("pretrained-frozen", 1)))
    ae0, ae1, scratch = frozen0.autoencoder_config(), frozen1.autoencoder_config(), tiny(model="classifier", seed=2)
    events = []  # list.append is atomic: the threads' starts and ends, in order

    def task(cfg):
        events.append(("start", cfg))
        time.sleep(0.2)
        events.append(("end", cfg))
        if cfg == ae0:
            raise ValueError("boom")
        return {"status": "ok", "epochs": cfg.epochs, "seconds": 0.2, "metric": "val_loss", "value": 0.1}

    progress = runner.Progress([ae0, ae1, frozen0, finetune0, frozen1, scratch], tmp_path, 2)
    with ThreadPoolExecutor(2) as executor:
        pool.dispatch(executor, task, [ae0, frozen0, finetune0, frozen1, ae1, scratch], 2, progress)
    progress.close()
    started = [cfg for what, cfg in events if what == "start"]
    assert set(started[:2]) == {ae0, ae1}  # the classifiers ahead of ae1 wait for their autoencoders
    assert frozen0 not in started and finetune0 not in started  # ae0 failed: not tried again for each
    assert events.index(("start", frozen1)) > events.index(("end", ae1)) and scratch in started
    assert progress.failed == {ae0.key(): "ValueError: boom",
                               frozen0.key(): f"its autoencoder failed ({ae0.label()})",
                               finetune0.key(): f"its autoencoder failed ({ae0.label()})"}
    assert progress.finished == {ae1.key(), frozen1.key(), scratch.key()}


def test_once_a_worker_dies_the_runs_not_yet_started_fail_and_the_launch_ends(tmp_path):
    from concurrent.futures.process import BrokenProcessPool
    from concurrent.futures import ThreadPoolExecutor

    class Breaks(ThreadPoolExecutor):  # as a process pool whose worker was killed after the first run started
        def submit(self, fn, *args):
            if self.started:
                raise BrokenProcessPool("A child process terminated abruptly")
            self.started = True
            return super().submit(fn, *args)

    cfgs = [tiny(seed=s) for s in range(3)]
    progress = runner.Progress(cfgs, tmp_path, 2)
    with Breaks(2) as executor:
        executor.started = False
        pool.dispatch(executor, lambda cfg: {"status": "ok", "epochs": 2, "seconds": 1, "metric": "val_loss",
                                             "value": 0.1}, cfgs, 2, progress)
    progress.close()
    assert progress.finished == {cfgs[0].key()}
    assert progress.failed == {c.key(): "BrokenProcessPool: A child process terminated abruptly" for c in cfgs[1:]}
    with pytest.raises(runner.RunsFailed, match="2 of 3 runs failed"):
        progress.check()


@pytest.mark.slow
def test_a_local_pool_never_leaves_a_worker_waiting_on_its_sibling(tmp_path):
    """Two workers, an autoencoder, the pretrained classifier that starts from it and an unrelated run: the second
    worker takes the unrelated run, and the classifier starts once its autoencoder is done (handed out with the rest
    at once, the classifier sat in a worker, waiting on the autoencoder's lock)."""
    env = {"FMNIST_RUNS": str(tmp_path / "runs"), "FMNIST_WORKERS": "2"}
    code = ("from fmnist_lib import launch; from fmnist_lib.config import make_config as m\n"
            "launch.ensure_runs([m('smoke', 'classifier', encoder='pretrained-frozen'), m('smoke', 'autoencoder'),"
            " m('smoke', 'classifier', seed=1)])")
    result = run_py("-c", code, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "waiting:" not in result.stderr, result.stderr[-3000:]
    done = [line.split(" (")[0].removeprefix("done ") for line in result.stdout.splitlines()]
    assert sorted(done) == ["autoencoder n=64 seed=0", "classifier n=64 encoder=pretrained-frozen seed=0",
                            "classifier n=64 seed=1"], result.stdout
    assert done.index("classifier n=64 encoder=pretrained-frozen seed=0") > done.index("autoencoder n=64 seed=0")


@pytest.mark.slow
def test_local_pool_trains_with_one_bar(tmp_path):
    env = {"FMNIST_RUNS": str(tmp_path / "runs"), "FMNIST_WORKERS": "2"}
    code = ("from fmnist_lib import launch; from fmnist_lib.config import make_config\n"
            "launch.ensure_runs([make_config('smoke', m, seed=s) for m in ('autoencoder', 'classifier') "
            "for s in (0, 1)])")
    result = run_py("-c", code, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training 4 runs, 2 CPU worker(s)" in result.stderr and "runs 4/4" in result.stderr
    assert result.stdout.count("done ") == 4


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.slow
def test_a_preempted_task_is_requeued_by_submitit_and_resumes_bit_for_bit(tmp_path):
    """submitit's own machinery (its local executor: the task process, signal handler and requeue a Slurm task
    has): USR2, as Slurm sends before a preemption or the time limit, once the first epoch's checkpoint exists.
    TrainRun.checkpoint requeues the same run, which resumes from its checkpoint and ends as an uninterrupted
    run does."""
    root = tmp_path / "runs"
    cfg = make_config("smoke", "autoencoder", epochs=3, train_size=4000)
    executor = submitit.LocalExecutor(tmp_path / "logs" / "%j")
    executor.update_parameters(timeout_min=60)
    job = executor.submit(runner.TrainRun(root), cfg)
    ckpt, deadline = cache.checkpoint_path(cfg, root), time.monotonic() + 300
    while not ckpt.exists():
        assert job.state == "RUNNING", job.stderr()
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.02)
    (task,) = _children(job._process.pid)
    os.kill(task, signal.SIGUSR2)
    summary = job.result()
    assert "this job is preempted" in job.stderr() and "Requeued job" in job.stdout()
    assert summary["resumed"] in (1, 2)  # the epoch whose checkpoint the task had written when the signal came
    assert_same_run(fit(cfg, progress=False), cache.load(cfg, root))


_ours = processes_with  # the processes a test started


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 1])
def test_ctrl_c_during_make_runs_prints_one_line_and_keeps_the_finished_runs(tmp_path, workers):
    """The terminal's Ctrl-C (SIGINT to the foreground process group: the launcher and its workers) once the first
    run has finished, the others being trained: one line, no worker left, only whole entries in the cache, and
    the same command again trains the rest."""
    runs, marker = tmp_path / "runs", f"launch-interrupt-{os.getpid()}-{time.time()}"
    env = {**os.environ, "FMNIST_RUNS": str(runs), "FMNIST_TEST_MARKER": marker}
    command = [sys.executable, "-m", "fmnist_lib.launch", "smoke", "--workers", str(workers)]  # what `make runs` runs
    # as from a terminal: SIGINT not ignored, even where pytest runs as a shell's background job (which ignores it)
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = proc.stdout.readline()  # a line per finished run; the bar is on stderr
        assert first.startswith("done "), (first, proc.poll())
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    said = [line for line in stderr.replace("\r", "\n").splitlines()
            if line.strip() and not line.startswith(("runs ", "profile smoke: ", "training "))]
    assert proc.returncode == 130, stderr
    assert said == [f"interrupted: the runs that finished stay in the run cache {runs}; run the same command again "
                    f"to train the rest"], stderr
    assert all(line.startswith("done ") for line in stdout.splitlines()), stdout
    deadline = time.monotonic() + 10  # the launcher has exited; its resource tracker follows within moments
    while _ours(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _ours(marker), "a worker outlived the interrupt"
    kept = [p.name for p in runs.iterdir() if not p.name.startswith(".")]
    smoke = {c.key(): c for c in all_configs("smoke")}
    assert 1 <= len(kept) < len(smoke), kept  # interrupted part-way
    for key in kept:  # whole entries only
        assert cache.load(smoke[key], runs).history["train_loss"]
    if workers > 1:  # the same command again goes on with the rest
        again = run_py(*command[1:], env={"FMNIST_RUNS": str(runs)})
        assert again.returncode == 0, again.stderr[-3000:]
        assert f"training {len(smoke) - len(kept)} runs" in again.stderr
        assert all(cache.is_cached(c, runs) for c in smoke.values())


def test_time_left_starts_at_the_estimate_and_follows_the_measured_speed(tmp_path, monkeypatch):
    from fmnist_lib import runner

    ae, frozen = tiny(epochs=2), tiny(model="classifier", encoder="random-frozen", epochs=2)
    rates = {"autoencoder": 60.0, "frozen": 6.0}  # seconds an epoch
    epoch_seconds = lambda c: rates[launch._kind(c)]  # noqa: E731
    assert launch.estimate_seconds([ae, frozen], 1, epoch_seconds) == 2 * 60 + 2 * 6
    clock = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    progress = runner.Progress([ae, frozen], tmp_path, 1, epoch_seconds)
    assert progress.bar.postfix == "about 2.2 min left"  # the estimate, before any epoch
    clock[0] += 240  # the autoencoder's two epochs took twice the estimate: the frozen ones will too
    progress.epoch(ae.key(), 2)
    assert progress.bar.postfix == "about 0.4 min left"  # 12 s estimated, at half speed: 24 s
    progress.close()


def test_epoch_times_are_measured_in_this_machines_run_cache_at_the_nearest_size(tmp_path):
    import json

    entry = tmp_path / "au-x"
    entry.mkdir()
    cfg = tiny(epochs=2)
    (entry / "config.json").write_text(json.dumps(cfg.relevant()))
    (entry / "history.json").write_text(json.dumps({"epoch_seconds": [2.0, 2.0]}))
    seconds = launch.cached_epoch_seconds(root=tmp_path)
    assert seconds.measured and seconds(cfg) == 2.0 and seconds(cfg.replace(train_size=400)) == 4.0
    frozen = tiny(model="classifier", encoder="random-frozen")
    assert seconds(frozen) == frozen.train_size * launch.FALLBACK_SECONDS_PER_IMAGE["frozen"]  # none measured
    assert not launch.cached_epoch_seconds(root=tmp_path / "empty").measured


def test_the_launcher_says_when_nothing_needs_training(monkeypatch, capsys):
    monkeypatch.setattr(launch, "ensure_runs", lambda *a, **k: None)
    monkeypatch.setattr(launch.cache, "is_cached", lambda cfg, root=None: True)
    monkeypatch.setattr(launch.cache, "needs_training", lambda cfg, root=None: False)
    launch.train_all("smoke", 1)
    assert "all in the run cache or the store: nothing to train" in capsys.readouterr().err
