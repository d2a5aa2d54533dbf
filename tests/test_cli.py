"""The command line a newcomer meets: make's checks before anything runs, `make help`, `make lab`, an existing
environment (VENV=), the git filter, `python -m fmnist_lib.launch --status`, and the estimate's sizes."""

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from fmnist_lib.config import PROFILES, make_config
from fmnist_lib.launch import cache_status
from fmnist_lib.plan import SWEEPS, all_configs

from .conftest import ROOT

NOTEBOOK_TARGETS = ["autoencoder", *(f"sweep-{s}" for s in SWEEPS), "comparison", "confusion"]


def make(*args, env=None, cwd=ROOT, timeout=120):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def run_py(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def make_variable(name: str) -> list[str]:
    database = make("-n", "-p", "help").stdout
    return re.search(rf"^{name} := (.*)$", database, re.M).group(1).split()


def test_the_makefile_knows_the_librarys_profiles_and_sweeps():
    assert make_variable("PROFILES") == list(PROFILES)
    assert make_variable("SWEEPS") == list(SWEEPS)
    assert make_variable("NOTEBOOKS") == NOTEBOOK_TARGETS


def test_help_names_every_notebook_target():
    result = make("help")
    listed = re.findall(r"^  (\S+)$", result.stdout, re.M)
    assert result.returncode == 0 and listed == NOTEBOOK_TARGETS


def test_an_unknown_sweep_target_says_which_exist():
    result = make("sweep-autoencoder-learning_rate")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "there is no sweep 'autoencoder-learning_rate'; allowed: " + " ".join(SWEEPS) in result.stderr


@pytest.mark.parametrize("profile", ["Quick", "", "quick smoke"])
def test_a_bad_profile_stops_before_anything_runs(tmp_path, profile):
    result = make("report", f"PROFILE={profile}", f"REPORTS={tmp_path}")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"PROFILE='{profile}' is not allowed; allowed: full quick smoke" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_empty_settings_mean_the_defaults():
    result = make("-n", "-p", "report", "PROFILE=smoke", "REPORTS=", "WORKERS=", env={"FMNIST_RUNS": ""})
    assert result.returncode == 0, result.stderr
    assert "mkdir -p reports/smoke" in result.stdout and " /smoke" not in result.stdout
    assert f"FMNIST_REPORTS := {ROOT / 'reports'}" in result.stdout
    assert "FMNIST_WORKERS := \n" in result.stdout and "--workers" not in result.stdout  # WORKERS=: launch's default


@pytest.mark.parametrize("target", ["report", "runs", "summary"])
def test_params_outside_a_notebook_target_are_refused(target):
    result = make(target, "PROFILE=smoke", "PARAMS=-p n 32")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "PARAMS applies only to single notebook targets" in result.stderr
    assert f"make {target} always uses the study's settings" in result.stderr


def test_a_notebook_target_hands_params_to_nbrun_as_the_users():
    result = make("-n", "sweep-autoencoder-lr", "PROFILE=smoke", "PARAMS=-y 'values: [1e-3]'")
    assert ("-m fmnist_lib.nbrun notebooks/sweep.ipynb reports/smoke/custom/sweep-autoencoder-lr.ipynb "
            "-p profile smoke -p sweep autoencoder-lr --html --custom -y 'values: [1e-3]'") in result.stdout
    plain = make("-n", "comparison", "PROFILE=smoke").stdout
    assert "reports/smoke/comparison.ipynb -p profile smoke  --html" in plain and "--custom" not in plain


def test_lab_allows_root_and_passes_lab_args():
    result = make("-n", "lab", "LAB_ARGS=--port=9999 --no-browser")
    assert "-m fmnist_lib.launch --status" in result.stdout
    lab = next(line for line in result.stdout.splitlines() if "/jupyter lab " in line)
    # the project root, opening on notebooks/; kernels over IPC (no "running over TCP without encryption")
    assert "--ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks --KernelManager.transport=ipc" in lab
    assert ("--allow-root" in lab) == (os.getuid() == 0)
    assert lab.endswith("--port=9999 --no-browser")


def test_an_existing_environment_is_used_and_not_built():
    result = make("-n", "test", "VENV=/some/env")
    assert result.returncode == 0, result.stderr
    assert "/some/env/bin/python -m pytest" in result.stdout
    assert "-m venv" not in result.stdout and ".venv/" not in result.stdout


def test_an_environment_without_python_is_refused_in_one_line(tmp_path):
    result = make("data", f"VENV={tmp_path}")
    assert result.returncode != 0
    assert f"error: VENV={tmp_path} has no bin/python" in result.stderr


def test_git_filter_strips_notebook_outputs_once_and_only_in_git(tmp_path):
    import nbformat

    venv, makefile = str(ROOT / ".venv"), str(ROOT / "Makefile")
    outside = make("-f", makefile, "git-filter", f"VENV={venv}", cwd=tmp_path)
    assert outside.returncode == 0 and outside.stdout == ""  # not a git work tree: nothing to do
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    first = make("-f", makefile, "git-filter", f"VENV={venv}", cwd=repo)
    assert first.returncode == 0 and "git add strips notebook outputs" in first.stdout, first.stderr
    again = make("-f", makefile, "git-filter", f"VENV={venv}", cwd=repo)
    assert again.returncode == 0 and again.stdout == ""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", execution_count=3, outputs=[
        nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)])])
    nbformat.write(nb, repo / "a.ipynb")
    subprocess.run(["git", "add", "a.ipynb"], cwd=repo, check=True)
    stored = nbformat.reads(subprocess.run(["git", "show", ":a.ipynb"], cwd=repo, capture_output=True, text=True,
                                           check=True).stdout, as_version=4)
    assert stored.cells[0].outputs == [] and stored.cells[0].execution_count is None
    assert stored.cells[0].id == nb.cells[0].id  # cell ids kept


def _hold(cfgs, root):
    for c in cfgs:
        (root / c.key()).mkdir(parents=True, exist_ok=True)
        (root / c.key() / "meta.json").write_text("{}")


def test_status_counts_each_profiles_runs_in_the_cache_and_the_store(tmp_path, monkeypatch):
    runs, store = tmp_path / "runs", tmp_path / "store"
    monkeypatch.setenv("FMNIST_STORE", str(store))
    smoke, quick = all_configs("smoke"), all_configs("quick")
    _hold(smoke, runs)
    _hold(quick[:3], runs)
    _hold(quick[2:5], store)
    lines = cache_status()
    assert str(runs) in lines[0] and str(store) in lines[0]
    by_profile = {line.split()[0]: line for line in lines[1:]}
    assert list(by_profile) == list(PROFILES)
    assert re.search(rf"smoke +{len(smoke)} of +{len(smoke)} runs: complete", by_profile["smoke"])
    assert re.search(rf"quick +5 of +{len(quick)} runs: partly +\(run cache 3, {store} 3\)", by_profile["quick"])
    assert re.search(r"full +0 of +\d+ runs: none", by_profile["full"])


def test_launch_cli_refuses_in_one_line_and_reports_status():
    result = run_py("-m", "fmnist_lib.launch", "smoke", "--workers", "0")
    assert result.returncode == 2 and result.stderr.startswith("error: argument --workers: '0' is not allowed")
    assert len(result.stderr.strip().splitlines()) == 1
    result = run_py("-m", "fmnist_lib.launch", "Quick")
    assert result.returncode == 2 and result.stderr.strip() == \
        "error: profile='Quick' is not allowed; allowed: full, quick, smoke"
    result = run_py("-m", "fmnist_lib.launch", "--status")
    assert result.returncode == 0 and result.stdout.startswith("runs held in the run cache")


def test_the_sweeps_are_listed_by_the_plan_alone():
    result = subprocess.run(["python3", "-m", "fmnist_lib.plan", "--list"], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"]})  # the system's python: no torch, no venv
    assert result.returncode == 0 and result.stdout.split() == list(SWEEPS)
    makefile = (ROOT / "Makefile").read_text()
    assert not [name for name in SWEEPS if name in makefile]  # written once, in fmnist_lib.plan


def _estimate():
    spec = importlib.util.spec_from_file_location("estimate", ROOT / "benchmarks" / "estimate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_estimate_probes_at_the_profiles_sizes_and_knows_every_arm():
    estimate = _estimate()
    assert estimate.probe_sizes("smoke") == (500, 1000)
    assert estimate.probe_sizes("quick") == estimate.probe_sizes("full") == (10_000, 20_000)
    assert estimate.duration(1800) == "0.50 h" and estimate.duration(120) == "2.0 min"
    frozen = {e: make_config("quick", "classifier", encoder=e)
              for e in ("pretrained-frozen", "pretrained-frozen-eval", "random-frozen")}
    assert len({estimate.shape(c) for c in frozen.values()}) == 1
    assert {estimate._same_cost(c) for c in frozen.values()} == {"random-frozen"}
    finetune = make_config("quick", "classifier", encoder="pretrained-finetune")
    assert estimate._same_cost(finetune) == "scratch" and estimate.shape(finetune)[-1]
    study_seeds = {c.seed for c in all_configs("quick") if c.model == "classifier" and c.encoder == "scratch"}
    assert study_seeds == set(PROFILES["quick"].study_seeds)  # the runs the estimate sums
    other_seeds = {c.seed for c in all_configs("quick") if c.model == "classifier" and c.encoder == "random-frozen"}
    assert other_seeds == set(PROFILES["quick"].arm_seeds)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_starts_says_what_is_cached_and_offers_the_fmnist_kernel():
    port = _free_port()
    proc = subprocess.Popen(["make", "--no-print-directory", "lab",
                             f"LAB_ARGS=--no-browser --port={port} --ServerApp.port_retries=0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        url = None
        deadline = time.time() + 180
        while url is None and time.time() < deadline and proc.poll() is None:
            time.sleep(1)
            url = next((m for line in list(lines)
                        for m in re.findall(rf"http://(?:localhost|127\.0\.0\.1):{port}/lab/tree/notebooks\?token=\w+",
                                            line)), None)
        assert url, "".join(lines)[-3000:]
        text = "".join(lines)
        assert "runs held in the run cache" in text and re.search(r"^  smoke +\d+ of", text, re.M)
        token = url.split("token=")[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=30) as r:
            specs = json.load(r)["kernelspecs"]
        assert specs["fmnist"]["spec"]["display_name"] == "Python (fmnist)"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def test_training_order_puts_the_study_arms_first_then_what_completes_a_setting_to_five_seeds():
    from fmnist_lib.plan import LINEAR, report_plan, training_priority

    plan, rank = report_plan("full"), training_priority("full")
    scratch = plan["arms"]["scratch"][9]
    baseline_ae = plan["heads"]["pretrained-frozen / relu head"][9].autoencoder_config()
    lr_seed_4 = plan["classifier-lr"][1e-4][4]
    late = plan["autoencoder-activation"]["relu"][4]
    small = plan["autoencoder-dropout-small"][0.0][9]
    linear = plan["classifier-batch_size" + LINEAR][25][0]
    small_other = plan["autoencoder-dropout-small"][0.4][0]
    order = [rank(c) for c in (scratch, baseline_ae, lr_seed_4, late, small, linear, small_other)]
    assert order == sorted(order) and order[0] < order[1] < order[2] == order[3] == order[4] < order[5] < order[6]


def test_runs_pinned_trains_from_a_worktree_of_head_into_this_checkouts_run_cache(tmp_path):
    clone = tmp_path / "study"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet",
                    subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                                   text=True).stdout.strip()], check=True)
    commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    # an edit here that must not reach the runs: the launcher would print it
    launch_py = clone / "fmnist_lib" / "launch.py"
    launch_py.write_text(launch_py.read_text().replace("\nimport argparse\n", "\nimport argparse\nprint('EDITED')\n", 1))
    env = {k: v for k, v in os.environ.items() if k not in ("FMNIST_RUNS", "FMNIST_STORE")}
    run = lambda: subprocess.run(  # noqa: E731
        ["make", "--no-print-directory", "runs-pinned", "PROFILE=smoke", f"VENV={ROOT / '.venv'}",
         "LAUNCH_OPTS=--status"], cwd=clone, capture_output=True, text=True, env=env, timeout=300)
    result = run()
    assert result.returncode == 0, result.stdout + result.stderr
    tree = tmp_path / f"study-train-{commit}"
    assert "uncommitted changes; the runs train from commit " + commit in result.stdout
    assert f"training from {tree} (commit {commit}) into the run cache {clone / 'runs'}" in result.stdout
    assert f"runs held in the run cache {clone / 'runs'}" in result.stdout and "EDITED" not in result.stdout
    assert subprocess.run(["git", "-C", str(tree), "status", "--porcelain"], capture_output=True,
                          text=True).stdout == ""
    (tree / "README.md").write_text("tainted")  # a worktree that is no longer the commit is refused, not used
    result = run()
    assert result.returncode == 2 and f"error: {tree} is not a clean worktree of commit {commit}" in result.stderr
