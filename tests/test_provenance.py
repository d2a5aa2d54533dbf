"""The report's provenance: which kind of machine trained each run, and the settings whose seeds mix kinds; what a
render's pages depend on (rendered-from.json), and nothing that changes from one render to the next."""
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from fmnist_lib import provenance
from fmnist_lib.config import Config
from fmnist_lib.results import Group
from fmnist_lib.train import RunResult

from .conftest import ROOT

AMD = {"device": "cpu", "cpu": "AMD EPYC", "cpu_capability": "AVX512", "torch": "2.14.1+cu130"}
INTEL = {**AMD, "cpu": "Intel(R) Xeon(R) Platinum 8481C"}
H100 = {**AMD, "device": "NVIDIA H100 80GB HBM3"}


def run(seed, machine, n=64):
    meta = {**machine, "wall_seconds": 10.0, "epochs_run": 2, "threads": 1, "commit": "abc1234"}
    return RunResult(Config(seed=seed, n=n), {"val_loss": [0.1, 0.05]}, "ok", state={}, meta=meta)


def test_machine_kind_is_cpu_model_and_instruction_set_or_the_gpu_and_torch():
    assert provenance.machine_kind(AMD) == "cpu, AMD EPYC (AVX512), torch 2.14.1+cu130"
    assert provenance.machine_kind({**H100, "cpu": "another host"}) == "NVIDIA H100 80GB HBM3, torch 2.14.1+cu130"
    assert provenance.machine_kind({"device": "cpu"}) == "cpu, unknown CPU (unknown), torch unknown"
    assert provenance.machine_kind({}) == "unknown device, torch unknown"


def test_settings_mixing_machines_are_named_once_and_uniform_ones_are_not():
    shared = Group(64, [run(0, AMD), run(1, INTEL), run(2, H100)])  # the baseline, also a value of a sweep
    by_experiment = {"baseline": {"baseline": shared},
                     "autoencoder-n": {16: Group(16, [run(0, AMD, 16), run(1, AMD, 16)]), 64: shared}}
    mixed = provenance.mixed_machines(by_experiment)
    assert len(mixed) == 1
    assert mixed[0].startswith("baseline baseline = autoencoder-n 64: 3 runs on 3 kinds of machine (")
    assert "Intel(R) Xeon(R) Platinum 8481C" in mixed[0] and "NVIDIA H100 80GB HBM3, torch" in mixed[0]

    runs = provenance.runs_table(by_experiment)
    assert len(runs) == 5  # a run shared by two groups is one row
    summary = provenance.runs_summary(runs, mixed)
    assert summary["settings mixing kinds of machine"] == mixed[0]
    assert "cpu, AMD EPYC (AVX512), torch 2.14.1+cu130: 3 runs" in summary["trained on"]
    assert summary["trained on"].count(" runs") == 3
    assert summary["training runs"] == 5 and summary["commits that trained the runs"] == "abc1234"


def test_one_kind_of_machine_says_none_mix(monkeypatch):
    monkeypatch.setattr(provenance, "environment", lambda: {"data split seed": 0})  # no data here
    monkeypatch.setattr(provenance, "runs_sha256", lambda keys: f"hash of {len(list(keys))} runs")  # none on disk
    by_experiment = {"baseline": {"n=64": Group("n=64", [run(0, AMD), run(1, AMD)])}}
    assert provenance.mixed_machines(by_experiment) == []
    table = provenance.report_table(provenance.runs_table(by_experiment), "smoke", [])
    values = dict(zip(table.what, table.value))
    assert values["settings mixing kinds of machine"] == "none"
    assert values["trained on"] == "cpu, AMD EPYC (AVX512), torch 2.14.1+cu130: 2 runs"
    assert [v for k, v in values.items() if k.startswith("content of the runs")] == ["hash of 2 runs"]
    assert {"matplotlib", "nbconvert", "weasyprint"} <= set(values)  # the rendering stack's versions
    # nothing that changes from one render of the same runs to the next (the render's commit, machine, timings)
    assert not [k for k in values if "commit" in k and "trained" not in k or "rendered" in k or "seconds" in k]


def test_missing_metadata_reads_unknown_not_blank():
    bare = RunResult(Config(seed=0), {"val_loss": [0.1]}, "ok", state={}, meta={"wall_seconds": 1.0, "epochs_run": 1})
    row = provenance.runs_table([bare]).iloc[0]
    assert (row.device, row.cpu, row.commit) == ("unknown", "unknown", "unknown")


def test_notebook_timings_list_the_pages_not_the_report_itself(tmp_path):
    import json

    for stem, seconds in (("autoencoder", 12.3), ("report", 99.0), ("sweep-autoencoder-n", 4.56)):
        meta = {"papermill": {"duration": seconds, "parameters": {"profile": "full"}}}
        (tmp_path / f"{stem}.ipynb").write_text(json.dumps({"metadata": meta, "cells": []}))
    timings = provenance.notebook_timings(tmp_path)
    assert list(timings.notebook) == ["autoencoder", "sweep-autoencoder-n"]
    assert list(timings.seconds) == [12.3, 4.6]


def test_the_report_warns_of_settings_that_mix_machines_and_says_nothing_otherwise():
    from fmnist_lib import narrate

    shared = Group(64, [run(0, AMD), run(1, INTEL)])
    mixed = provenance.mixed_machines({"baseline": {"baseline": shared}})
    text = narrate.mixed_machines_text(mixed)
    assert text.startswith("**1 setting(s) mix kinds of machine across their seeds**") and mixed[0] in text
    assert narrate.mixed_machines_text([]) == ""


# --- the pages' inputs: rendered-from.json ------------------------------------------------------------------------

def write_entry(folder, key, history, weights=None):
    entry = folder / key
    entry.mkdir(parents=True)
    for name, text in (("config.json", "{}"), ("history.json", history), ("meta.json", '{"weights_sha256": "w"}')):
        (entry / name).write_text(text)
    if weights is not None:
        (entry / "weights.pt").write_bytes(weights)


def test_runs_hash_is_the_content_wherever_it_is_read_from(tmp_path, monkeypatch):
    store, runs = tmp_path / "store", tmp_path / "runs"
    monkeypatch.setenv("FMNIST_STORE", str(store))
    write_entry(store, "a", "[1]")
    write_entry(store, "b", "[2]")
    stored = provenance.runs_sha256(["b", "a"])
    write_entry(runs, "a", "[1]", weights=b"weights the store leaves out")  # the run cache's copy, read first
    assert provenance.runs_sha256(["a", "b"]) == stored
    (runs / "a" / "history.json").write_text("[1.5]")  # another history: another hash
    assert provenance.runs_sha256(["a", "b"]) != stored
    with pytest.raises(FileNotFoundError, match="run c is not in the run cache"):
        provenance.runs_sha256(["a", "c"])


def test_code_hash_ignores_notebook_outputs_and_sees_a_source_change(tmp_path):
    import json

    from fmnist_lib.rendered import code_sha256

    (tmp_path / "notebooks").mkdir()
    cell = {"cell_type": "code", "source": ["x = 1"], "outputs": [], "execution_count": None, "metadata": {}}
    path = tmp_path / "notebooks" / "a.ipynb"
    path.write_text(json.dumps({"cells": [cell]}))
    clean = code_sha256(tmp_path)
    path.write_text(json.dumps({"cells": [{**cell, "outputs": [{"text": "1"}], "execution_count": 3}]}))
    assert code_sha256(tmp_path) == clean  # saved from Lab: the same code
    path.write_text(json.dumps({"cells": [{**cell, "source": ["x = 2"]}]}))
    assert code_sha256(tmp_path) != clean


def test_pages_are_unchanged_only_while_their_runs_and_code_are(tmp_path, monkeypatch):
    from fmnist_lib import rendered

    now = {"profile": "smoke", "runs": 2, "runs_sha256": "r1", "code": ["Makefile"], "code_sha256": "c1"}
    monkeypatch.setattr(rendered, "inputs", lambda profile, partial=False: dict(now))
    monkeypatch.setattr(provenance, "notebook_timings", lambda folder: pd.DataFrame(columns=["notebook", "seconds"]))
    out = tmp_path / "reports" / "smoke"  # FMNIST_REPORTS of the conftest
    out.mkdir(parents=True)
    page = out / "report.html"
    assert rendered.unchanged("smoke", [page]).startswith("1 page(s) missing")
    page.write_text("<html>")
    assert rendered.unchanged("smoke", [page]) == "no rendered-from.json beside the pages"
    stamp, render = rendered.record("smoke")
    assert rendered.unchanged("smoke", [page]) is None
    assert json.loads(stamp.read_text()) == now and "commit" in json.loads(render.read_text())
    now["runs_sha256"] = "r2"
    assert rendered.unchanged("smoke", [page]) == "changed since the last render: runs_sha256"
    now["code_sha256"] = "c2"
    assert rendered.unchanged("smoke", [page]) == "changed since the last render: runs_sha256, code_sha256"


def test_a_partial_render_is_unchanged_while_the_runs_there_are_the_same(tmp_path, monkeypatch):
    """A partial stamp counts the planned runs the cache or the store holds; one more run there is a change."""
    from fmnist_lib import rendered
    from fmnist_lib.plan import all_configs

    store, runs = tmp_path / "store", tmp_path / "runs"
    monkeypatch.setenv("FMNIST_STORE", str(store))
    monkeypatch.setenv("FMNIST_RUNS", str(runs))
    monkeypatch.setattr(provenance, "notebook_timings", lambda folder: pd.DataFrame(columns=["notebook", "seconds"]))
    planned = all_configs("smoke")
    for cfg in planned[:2]:
        write_entry(store, cfg.key(), "[1]")
    out = tmp_path / "reports" / "smoke"
    out.mkdir(parents=True)
    page = out / "report.html"
    page.write_text("<html>")
    stamp, _ = rendered.record("smoke", partial=True)
    recorded = json.loads(stamp.read_text())
    assert (recorded["partial"], recorded["runs"], recorded["planned"]) == (True, 2, len(planned))
    assert rendered.unchanged("smoke", [page]) is None
    assert rendered.unchanged("smoke", [page, out / "autoencoder.html"]) is None  # not a page of a partial render
    write_entry(runs, planned[2].key(), "[1]")  # a third run trained since
    assert rendered.unchanged("smoke", [page]) == "changed since the last render: runs, runs_sha256"
    with pytest.raises(FileNotFoundError):
        rendered.inputs("smoke")  # the whole plan: runs missing
    for cfg in planned[3:]:
        write_entry(store, cfg.key(), "[1]")
    assert "partial" not in rendered.inputs("smoke", partial=True)  # every planned run there: a whole render


def test_the_published_pages_are_those_their_store_and_code_render(monkeypatch):
    """The committed report of `full` was rendered from the store and the code as they are in this commit, so a fresh
    clone's `make report` leaves it alone instead of rendering (and, while the plan is partly published, training).
    Failing: re-render (`make summary PROFILE=full PARTIAL=1` while partial, else `make report`) and commit."""
    from fmnist_lib import rendered
    from fmnist_lib.paths import reports_dir

    monkeypatch.delenv("FMNIST_REPORTS")  # the committed reports/, and the store only: a fresh clone has no run cache
    out = reports_dir("full")
    pages = [out / name for name in rendered.PARTIAL_PAGES]
    assert rendered.unchanged("full", pages) is None, rendered.unchanged("full", pages)


def test_a_partial_publication_commits_no_page_of_an_older_render():
    """While the committed report of `full` is a partial render, it is the only page committed: the executed notebooks'
    pages of an earlier, complete render would show other runs and an older analysis beside it."""
    from fmnist_lib import rendered

    stamp = json.loads((ROOT / "reports" / "full" / rendered.STAMP).read_text())
    if not stamp.get("partial"):
        pytest.skip("a complete render: every page is of this render")
    tracked = subprocess.run(["git", "ls-files", "reports/full/*.html", "reports/full/*.pdf"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert sorted(Path(p).name for p in tracked) == sorted(rendered.PARTIAL_PAGES)
