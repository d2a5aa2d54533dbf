"""The notebook runner: numbers as people write them, parameters make fixes, output names, Ctrl-C, the kernel's
transport; and numbers written as text reaching Config and the sweeps (papermill called directly)."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fmnist_lib import nbrun
from fmnist_lib.config import Config, ConfigError, get_profile, make_config
from fmnist_lib.plan import SWEEPS, resolve_seeds, sweep_configs
from fmnist_lib.nbrun import UsageError, check_fixed, custom_name, parse_args

from .conftest import ROOT, processes_with


def test_yaml_numbers_are_numbers_as_people_write_them():
    job = parse_args(["in.ipynb", "out.ipynb", "-y", "values: [1e-3, 3e-3, 1E3, 2.5e+2, 0.1, .5, 64, -1e-2]"])
    assert job.params["values"] == [0.001, 0.003, 1000.0, 250.0, 0.1, 0.5, 64, -0.01]
    assert [type(v) for v in job.params["values"]] == [float] * 6 + [int, float]
    job = parse_args(["in.ipynb", "out.ipynb", "-y", "values: ['1e-3', 1e-3x, e3]"])
    assert job.params["values"] == ["1e-3", "1e-3x", "e3"]  # quoted or not a number: text


def test_parameters_file_reads_numbers_the_same_way(tmp_path):
    (tmp_path / "p.yaml").write_text("values: [1e-4, 1e-2]\nseeds: 2\n")
    assert parse_args(["a", "b", "-f", str(tmp_path / "p.yaml")]).params == {"values": [1e-4, 1e-2], "seeds": 2}


def check(notebook, *args):
    from fmnist_lib.params import check_names, notebook_configs

    job = parse_args([str(ROOT / "notebooks" / notebook), "out.ipynb", "-p", "profile", "smoke", *args])
    return notebook_configs(job.notebook, check_names(job.notebook, job.params, job.with_p))


def test_a_list_given_with_p_says_to_use_y_where_the_notebook_takes_that_name():
    from fmnist_lib.params import ParameterError

    with pytest.raises(ParameterError, match=r"-p values takes one value.*use -y 'values: \[0.001,0.01\]'"):
        check("sweep.ipynb", "-p", "values", "[0.001,0.01]")
    with pytest.raises(ParameterError, match="-y 'overrides: {optimizer: sgd}'"):
        check("sweep.ipynb", "-p", "overrides", "{optimizer: sgd}")
    # the autoencoder notebook has no `values`: the advice would fail; the error names what it takes
    with pytest.raises(ParameterError, match="unknown parameter 'values' for .*autoencoder.ipynb; allowed: profile"):
        check("autoencoder.ipynb", "-p", "values", "[0.001,0.01]")


def test_parameters_are_checked_without_torch_and_give_the_runs_the_notebook_reads():
    import subprocess
    import sys

    code = ("import sys; from fmnist_lib.params import check_names, notebook_configs; "
            "n = 'notebooks/sweep.ipynb'; "
            "cfgs = notebook_configs(n, check_names(n, {'profile': 'smoke', 'sweep': 'classifier-lr', "
            "'values': [1e-3, 1e-2]})); print(len(cfgs), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "False"]  # two pretrained classifiers and the autoencoder they start from
    assert len(check("autoencoder.ipynb", "-p", "epochs", "2")) == 1
    from fmnist_lib.config import ConfigError

    with pytest.raises(ConfigError, match="dropout=1.5 is out of range"):
        check("autoencoder.ipynb", "-p", "dropout", "1.5")


@pytest.mark.parametrize("given, message", [
    (["-p", "profile", "smoke"], "profile='smoke' is not allowed in PARAMS; set the profile with PROFILE=NAME "
                                 "(make autoencoder PROFILE=smoke); allowed: full, quick, smoke"),
    (["-y", "profile: fast"], "profile='fast' is not allowed in PARAMS; set the profile with PROFILE=NAME "
                              "(make autoencoder PROFILE=quick)"),
    (["-p", "sweep", "classifier-n"], "sweep='classifier-n' is not allowed in PARAMS; the target's name chooses "
                                      "the sweep (make sweep-NAME); allowed: autoencoder-activation"),
])
def test_params_may_not_set_what_the_target_fixes(given, message):
    job = parse_args(["nb.ipynb", "out/autoencoder.ipynb", "-p", "profile", "full", "-p", "sweep", "autoencoder-lr",
                      "--custom", *given])
    with pytest.raises(UsageError) as err:
        check_fixed(job)
    assert str(err.value).startswith(message)


def test_params_after_custom_are_kept_apart_and_win():
    job = parse_args(["a", "b", "-p", "profile", "smoke", "--html", "--custom", "-p", "epochs", "5", "-y", "n: 32"])
    assert job.fixed == {"profile": "smoke"} and job.custom == {"epochs": 5, "n": 32} and job.html
    assert job.params == {"profile": "smoke", "epochs": 5, "n": 32}
    check_fixed(job)  # nothing refused


def test_custom_outputs_are_named_after_their_parameters():
    assert custom_name("sweep-autoencoder-lr", {"values": [0.001, 0.003]}) == \
        "sweep-autoencoder-lr--values-0.001-0.003"
    assert custom_name("sweep-autoencoder-lr", {"overrides": {"optimizer": "sgd"}, "seeds": 2}) == \
        "sweep-autoencoder-lr--overrides-optimizer-sgd--seeds-2"
    assert custom_name("autoencoder", {"epochs": 5}) != custom_name("autoencoder", {"epochs": 6})
    odd = custom_name("autoencoder", {"x": "a/b c'd\"e*"})
    assert odd == "autoencoder--x-a-b-c-d-e"
    long_a, long_b = (custom_name("sweep", {"values": list(range(i, i + 60))}) for i in (0, 1))
    assert len(long_a) <= 120 and len(long_b) <= 120 and long_a != long_b


def test_an_unknown_profile_is_refused_before_a_kernel_starts(tmp_path, capsys):
    out = tmp_path / "Quick" / "autoencoder.ipynb"
    rc = nbrun.main([str(ROOT / "notebooks/autoencoder.ipynb"), str(out), "-p", "profile", "Quick"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == "error: profile='Quick' is not allowed; allowed: full, quick, smoke"
    assert not (tmp_path / "Quick").exists()


def test_config_takes_text_that_is_exactly_a_number_of_the_fields_type():
    assert Config(lr="1e-3").lr == 0.001 and Config(n="64").n == 64 and Config(dropout="0.5").dropout == 0.5
    assert Config(lr="1e-3").key() == Config(lr=1e-3).key()
    assert make_config("smoke", "classifier", batch_size="50").key() == make_config("smoke", "classifier",
                                                                                    batch_size=50).key()
    for field, text in [("n", "64.0"), ("n", "1e2"), ("lr", " 1e-3"), ("lr", "inf"), ("lr", "nan"), ("n", "1_000"),
                        ("lr", "0x10"), ("epochs", "")]:
        with pytest.raises(ConfigError, match=f"{field}='{text}' has type str"):
            Config(**{field: text})


def test_sweep_values_written_as_text_are_the_same_runs():
    typed = sweep_configs("autoencoder-lr", "smoke", values=[1e-3, 3e-3])
    text = sweep_configs("autoencoder-lr", "smoke", values=["1e-3", "3e-3"])  # papermill's -y gives these
    assert list(text) == [0.001, 0.003]
    assert [c.key() for cs in text.values() for c in cs] == [c.key() for cs in typed.values() for c in cs]
    ints = sweep_configs("classifier-n", "smoke", values=["16", 32])
    assert list(ints) == [16, 32] and all(type(v) is int for v in ints)


@pytest.mark.parametrize("name", SWEEPS)
def test_the_studys_sweeps_keep_their_labels_and_keys(name):
    sweep = SWEEPS[name]
    groups = sweep_configs(name, "quick")
    assert list(groups) == list(sweep.values)
    small = {"train_size": get_profile("quick").small_train_size} if sweep.small_data else {}
    for value, cfgs in groups.items():
        expected = [make_config("quick", sweep.model, **dict(sweep.fixed), **small, **{sweep.param: value},
                                seed=s).key() for s in resolve_seeds("quick", study=sweep.small_data)]
        assert [c.key() for c in cfgs] == expected


def test_a_list_as_text_in_the_notebook_says_how_to_pass_a_list():
    with pytest.raises(ConfigError, match=r"values='\[0.001,0.01\]' is not a list.*-y 'values: \[..\]', not -p"):
        sweep_configs("autoencoder-lr", "smoke", values="[0.001,0.01]")


def test_empty_settings_mean_the_default(monkeypatch):
    from fmnist_lib.paths import reports_dir, runs_dir

    monkeypatch.setenv("FMNIST_RUNS", "")
    monkeypatch.setenv("FMNIST_REPORTS", "  ")
    assert runs_dir() == ROOT / "runs" and reports_dir("smoke") == ROOT / "reports" / "smoke"
    monkeypatch.setenv("FMNIST_RUNS", "elsewhere/runs")  # relative: from the repository root, as make runs
    assert runs_dir() == ROOT / "elsewhere" / "runs"


_alive = processes_with  # the processes a test started


@pytest.mark.slow
def test_ctrl_c_prints_one_line_stops_the_kernel_and_writes_nothing(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "reports" / "custom" / "autoencoder.ipynb"
    marker = f"nbrun-interrupt-{os.getpid()}-{time.time()}"
    env = {**os.environ, "FMNIST_RUNS": str(runs), "FMNIST_WORKERS": "1", "FMNIST_TEST_MARKER": marker}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fmnist_lib.nbrun", "notebooks/autoencoder.ipynb", str(out), "-p", "profile", "smoke",
         "--html", "--custom", "-p", "epochs", "200"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # as from a terminal: SIGINT not ignored, even where pytest runs as a shell's background job (which ignores it)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while not list((runs / ".locks").glob("*.lock")) and time.time() < deadline:  # training has started
        time.sleep(1)
    assert proc.poll() is None, proc.communicate()
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal's Ctrl-C: to the foreground process group
    stdout, stderr = proc.communicate(timeout=60)
    # what trains the notebook's run (in this terminal, before papermill: one line and the bar) aside
    lines = [line for line in stderr.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith(("Executing", "training 1 run", "runs 0/1"))]
    assert proc.returncode == 130, stderr
    assert len(lines) == 1 and lines[0].startswith("interrupted: ") and "run the same command again" in lines[0], \
        stderr
    assert "without encryption" not in stderr  # the kernel talks over IPC sockets
    assert not list(out.parent.glob("*.ipynb")) and not list(out.parent.glob("*.html"))
    assert not [p for p in runs.iterdir() if not p.name.startswith(".")]  # no finished run, no partial entry
    time.sleep(2)
    assert not _alive(marker), "the kernel or its training processes outlived the interrupt"


@pytest.mark.slow
def test_papermill_directly_takes_numbers_written_as_people_write_them(tmp_path):
    # papermill reads -y with YAML 1.1: the notebook gets the text '1e-3', which Config and the sweep take as 0.001
    env = {**os.environ, "FMNIST_RUNS": str(tmp_path / "runs")}
    out = tmp_path / "sweep.ipynb"
    result = subprocess.run([str(ROOT / ".venv/bin/papermill"), "notebooks/sweep.ipynb", str(out), "-k", "fmnist",
                             "-p", "profile", "smoke", "-p", "sweep", "autoencoder-lr", "-y", "values: [1e-3]"],
                            cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    import nbformat

    cells = nbformat.read(out, as_version=4).cells
    assert any(c.source.startswith("# Parameters") and 'values = ["1e-3"]' in c.source for c in cells)
    assert "lr=0.001" in out.read_text()


def test_the_injected_cell_is_named_after_its_tag_not_a_random_id(tmp_path):
    import nbformat

    def executed(path):  # as papermill writes it: the injected cell gets a fresh random id each time
        cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                 nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["injected-parameters"]}),
                 nbformat.v4.new_code_cell("y = x")]
        nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
        return path

    a, b = executed(tmp_path / "a.ipynb"), executed(tmp_path / "b.ipynb")
    assert a.read_text() != b.read_text()
    nbrun.name_injected_cell(a)
    nbrun.name_injected_cell(b)
    ids = [c.id for c in nbformat.read(a, as_version=4).cells]
    assert ids[1] == "injected-parameters" and len(set(ids)) == 3
    injected = [nbformat.read(p, as_version=4).cells[1] for p in (a, b)]
    assert injected[0] == injected[1]


def test_a_finished_notebooks_kernel_is_shut_down_without_an_interrupt():
    """jupyter_client 8 sends SIGINT before its shutdown request, and an idle kernel that gets it mid-message logs
    "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." (3 of 12 notebooks in a render of full). Ours asks it
    to shut down, and interrupts only where asked to, as Jupyter's stop button does."""
    import asyncio

    async def signals_sent(interrupt_first: bool) -> list:
        km = nbrun._kernel_manager_class([])(kernel_name=nbrun.KERNEL)
        await km.start_kernel()
        sent, send = [], km.provisioner.send_signal

        async def record(signum):
            sent.append(signum)
            await send(signum)

        km.provisioner.send_signal = record
        try:
            if interrupt_first:
                await km.interrupt_kernel()
            await km.shutdown_kernel()
        finally:
            shutil.rmtree(km.folder, ignore_errors=True)
        return sent

    assert signal.SIGINT not in asyncio.run(signals_sent(False))
    assert signal.SIGINT in asyncio.run(signals_sent(True))  # the stop button still interrupts
