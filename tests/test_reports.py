"""The product end to end: papermill executes every notebook on the smoke profile, the report renders,
and bad parameters fail before anything is trained or written."""

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def make(*args, env_dir, timeout=900):
    env = {**os.environ, "FMNIST_RUNS": str(env_dir / "runs"), "WORKERS": "2"}
    return subprocess.run(["make", "--no-print-directory", *args, "PROFILE=smoke", f"REPORTS={env_dir / 'reports'}"],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """`make -j2 report PROFILE=smoke` from an empty run cache."""
    base = tmp_path_factory.mktemp("smoke")
    result = make("-j2", "report", env_dir=base)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return base


def test_every_notebook_executed_without_error(smoke_report):
    out = smoke_report / "reports" / "smoke"
    names = {p.stem for p in out.glob("*.ipynb")}
    assert names == {"autoencoder", "comparison", "confusion", "report"} | {
        f"sweep-{s}" for s in ("autoencoder-activation", "autoencoder-optimizer", "autoencoder-n",
                               "autoencoder-dropout", "autoencoder-lr", "classifier-lr", "classifier-n",
                               "classifier-batch_size")}
    for path in out.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
        assert not [o for o in outputs if o["output_type"] == "error"], path
        assert (out / f"{path.stem}.html").is_file()


def test_report_html_holds_the_figures_and_no_code(smoke_report):
    html = (smoke_report / "reports" / "smoke" / "report.html").read_text()
    # figure 1, 8 sweeps, arms, 2 confusion matrices: 12 embedded figures
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64', html)) >= 12
    for text in ("The study's conclusions, tested", "Sigmoid output beats ReLU", "Adam beats SGD",
                 "Smaller batches", "confirmed", "Provenance", "data split seed", "sweep-autoencoder-lr.html"):
        assert text in html, text
    assert "experiments.report_groups" not in html  # code cells hidden


def test_report_pdf_has_pages_with_the_reports_text(smoke_report):
    from pypdf import PdfReader

    reader = PdfReader(smoke_report / "reports" / "smoke" / "report.pdf")
    assert len(reader.pages) >= 5
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "The study's conclusions, tested" in text and "Provenance" in text
    assert "experiments.report_groups" not in text  # no code


def test_second_make_report_trains_and_executes_nothing(smoke_report):
    result = make("report", env_dir=smoke_report)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fmnist_lib.experiments" not in result.stdout and "nbrun" not in result.stdout, result.stdout
    assert "nbconvert" not in result.stdout and "fmnist_lib.render" not in result.stdout


BAD_PARAMETERS = [
    ("sweep-autoencoder-lr", "-p foo 1", "unknown parameter 'foo'"),
    ("autoencoder", "-p epoch 3", "unknown parameter 'epoch'"),
    ("autoencoder", "-p epochs abc", "epochs='abc' has type str"),
    ("autoencoder", "-p epochs 0", "epochs=0 is out of range"),
    ("autoencoder", "-p dropout 1.5", "dropout=1.5 is out of range"),
    ("autoencoder", "-p dropout -0.1", "dropout=-0.1 is out of range"),
    ("autoencoder", "-p lr 0", "lr=0.0 is out of range"),
    ("autoencoder", "-p n 1000", "n=1000 is out of range"),
    ("sweep-autoencoder-lr", "-y 'values: []'", "values=[] is empty"),
    ("sweep-autoencoder-lr", "-p values 0.1", "values=0.1 is not a list"),
    ("sweep-autoencoder-optimizer", "-y 'values: [adam, rmsprop]'", "optimizer='rmsprop' is not allowed"),
    ("sweep-classifier-batch_size", "-y 'values: [0]'", "batch_size=0 is out of range"),
    ("sweep-autoencoder-lr", "-p sweep autoencoder-momentum", "sweep='autoencoder-momentum' is not allowed"),
    ("comparison", "-p profile fast", "profile='fast' is not allowed"),
    ("comparison", "-p seeds 0", "seeds=0 is out of range"),
    ("sweep-autoencoder-lr", "-y 'overrides: {lr: 1}'", "overrides may not set 'lr'"),
    ("sweep-autoencoder-lr", "-y 'overrides: {momentum: 0.9}'", "unknown config field 'momentum'"),
]


@pytest.fixture(scope="module")
def bad_parameter_runs(tmp_path_factory):
    """Every bad-parameter make invocation, run four at a time (each starts a kernel), each with its own folders."""
    def attempt(case):
        target, params, _ = case
        env_dir = tmp_path_factory.mktemp("bad")
        return env_dir, make(target, f"PARAMS={params}", env_dir=env_dir)

    with ThreadPoolExecutor(4) as pool:
        return dict(zip(range(len(BAD_PARAMETERS)), pool.map(attempt, BAD_PARAMETERS)))


@pytest.mark.parametrize("case", range(len(BAD_PARAMETERS)), ids=[f"{t} {p}" for t, p, _ in BAD_PARAMETERS])
def test_bad_parameters_fail_before_training_with_one_line(bad_parameter_runs, case):
    env_dir, result = bad_parameter_runs[case]
    expected = BAD_PARAMETERS[case][2]
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]
    runs = env_dir / "runs"
    assert not runs.exists() or not [p for p in runs.iterdir() if not p.name.startswith(".")]
    reports = env_dir / "reports"
    assert not list(reports.rglob("*.ipynb")) and not list(reports.rglob("*.html"))


def test_papermill_directly_also_refuses_out_of_range_values(tmp_path):
    env = {**os.environ, "FMNIST_RUNS": str(tmp_path / "runs")}
    result = subprocess.run([str(ROOT / ".venv/bin/papermill"), "notebooks/autoencoder.ipynb",
                             str(tmp_path / "out.ipynb"), "-k", "fmnist", "-p", "profile", "smoke",
                             "-p", "dropout", "1.5"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "dropout=1.5 is out of range" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_diverging_value_is_marked_and_the_sweep_still_renders(tmp_path):
    # SGD at lr=1000 on the classifier from scratch: the loss is non-finite within the first epoch
    result = make("sweep-classifier-lr", "PARAMS=-y 'values: [0.001, 1000.0]' -y 'overrides: {optimizer: sgd, encoder: scratch}'",
                  env_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    html = next((tmp_path / "reports" / "smoke" / "custom").glob("sweep-classifier-lr--*.html")).read_text()
    assert "Diverged (loss became non-finite; curves stop there): lr=1000.0" in html
    assert "<td>diverged</td>" in html  # the summary table's status column


def test_summary_refuses_to_build_from_missing_runs(tmp_path):
    result = make("summary", env_dir=tmp_path)
    assert result.returncode != 0
    assert "MissingRun" in result.stderr and "not in the cache" in result.stderr
    assert not (tmp_path / "reports" / "smoke" / "report.html").exists()


def test_papermill_directly_refuses_an_unknown_parameter_name(tmp_path):
    env = {**os.environ, "FMNIST_RUNS": str(tmp_path / "runs")}
    result = subprocess.run([str(ROOT / ".venv/bin/papermill"), "notebooks/sweep.ipynb", str(tmp_path / "out.ipynb"),
                             "-k", "fmnist", "-p", "profile", "smoke", "-p", "valuez", "[1]"],
                            cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "unknown parameter 'valuez'" in result.stderr
    assert not (tmp_path / "runs").exists()
