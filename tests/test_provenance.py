"""The report's provenance: which kind of machine trained each run, and the groups whose seeds mix kinds."""
from fmnist_lib import provenance
from fmnist_lib.config import Config
from fmnist_lib.results import Group
from fmnist_lib.train import RunResult

AMD = {"device": "cpu", "cpu": "AMD EPYC", "cpu_capability": "AVX512", "torch": "2.14.1+cu130"}
INTEL = {**AMD, "cpu": "Intel(R) Xeon(R) Platinum", "cpu_capability": "AVX512"}
H100 = {**AMD, "device": "cuda"}


def run(seed, machine, n=64):
    meta = {**machine, "wall_seconds": 10.0, "epochs_run": 2, "threads": 1, "commit": "abc1234"}
    return RunResult(Config(seed=seed, n=n), {"val_loss": [0.1, 0.05]}, "ok", state={}, meta=meta)


def test_hardware_names_device_cpu_instruction_set_and_torch():
    assert provenance.hardware(AMD) == "cpu, AMD EPYC (AVX512), torch 2.14.1+cu130"
    assert provenance.hardware({"device": "cpu"}) == "cpu, unknown CPU (?), torch ?"


def test_groups_mixing_hardware_are_named_and_uniform_ones_are_not():
    by_experiment = {"autoencoder-n": {16: Group(16, [run(0, AMD, 16), run(1, AMD, 16)]),
                                       64: Group(64, [run(0, AMD), run(1, INTEL), run(2, H100)])}}
    mixed = provenance.mixed_hardware(by_experiment)
    assert len(mixed) == 1 and mixed[0].startswith("autoencoder-n, 64: 3 runs on 3 kinds (")
    assert "Intel(R) Xeon(R) Platinum" in mixed[0] and "cuda, AMD EPYC" in mixed[0]

    runs = provenance.runs_table(by_experiment)
    summary = provenance.runs_summary(runs, mixed)
    assert summary["groups mixing kinds of hardware"] == mixed[0]
    assert summary["trained on"].count(": ") == 3 and "cpu, AMD EPYC (AVX512), torch 2.14.1+cu130: 3 runs" in \
        summary["trained on"]
    assert summary["training runs"] == 5 and summary["commits that trained the runs"] == "abc1234"


def test_one_kind_of_hardware_says_none_mix():
    by_experiment = {"baseline": {"n=64": Group("n=64", [run(0, AMD), run(1, AMD)])}}
    assert provenance.mixed_hardware(by_experiment) == []
    table = provenance.report_table(provenance.runs_table(by_experiment), "smoke", [])
    values = dict(zip(table.what, table.value))
    assert values["groups mixing kinds of hardware"] == "none"
    assert values["trained on"] == "cpu, AMD EPYC (AVX512), torch 2.14.1+cu130: 2 runs"
