"""The report's provenance: which kind of machine trained each run, and the settings whose seeds mix kinds."""
from fmnist_lib import provenance
from fmnist_lib.config import Config
from fmnist_lib.results import Group
from fmnist_lib.train import RunResult

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
    monkeypatch.setattr(provenance, "environment", lambda: {"git commit": "abc1234"})  # no data, no git here
    by_experiment = {"baseline": {"n=64": Group("n=64", [run(0, AMD), run(1, AMD)])}}
    assert provenance.mixed_machines(by_experiment) == []
    table = provenance.report_table(provenance.runs_table(by_experiment), "smoke", [])
    values = dict(zip(table.what, table.value))
    assert values["settings mixing kinds of machine"] == "none"
    assert values["trained on"] == "cpu, AMD EPYC (AVX512), torch 2.14.1+cu130: 2 runs"


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
