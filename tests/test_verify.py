"""make verify: retraining published runs and comparing their histories, bit for bit or within a tolerance."""

import torch

from fmnist_lib import verify
from fmnist_lib.config import make_config


# ------------------------------------------------------------------------------------------- verify's comparison
HIST = {"train_loss": [0.06, 0.04, 0.035], "val_loss": [0.05, 0.045, 0.04], "val_acc": [0.7, 0.75, 0.8],
        "test_unpredicted": [1, 0, 0], "epoch_seconds": [10.0, 11.0, 9.0]}


def test_compare_bit_for_bit():
    ok, lines = verify.compare_histories(HIST, {**HIST, "epoch_seconds": [1, 2, 3]}, 3, exact=True)
    assert ok and len(lines) == 4 and all("bit for bit" in line for line in lines)
    ok, _ = verify.compare_histories({k: v + [9.0] for k, v in HIST.items()}, HIST, 3, exact=True)
    assert ok  # the published run has more epochs: only the first 3 are compared
    off = {**HIST, "val_loss": [0.05, 0.045, float(torch.nextafter(torch.tensor(0.04, dtype=torch.float64),
                                                                    torch.tensor(1.0, dtype=torch.float64)))]}
    ok, lines = verify.compare_histories(HIST, off, 3, exact=True)
    assert not ok and any(line.startswith("val_loss: MISMATCH: first at epoch 3") for line in lines)
    ok, lines = verify.compare_histories(HIST, {**HIST, "val_acc": [0.7]}, 3, exact=True)
    assert not ok and any("val_acc: MISMATCH: 1 retrained epochs" in line for line in lines)


def test_compare_within_tolerance():
    near = {**HIST, "train_loss": [0.06 * (1 + 5e-4), 0.04 * 1.1, 0.035], "val_acc": [0.71, 0.75, 0.8]}
    ok, lines = verify.compare_histories(HIST, near, 3, exact=False)
    assert ok  # epoch-1 losses within 1e-3; later epochs and accuracies are reported, not checked
    line = next(line for line in lines if line.startswith("train_loss"))
    assert "5.00e-04 within 0.001" in line and "largest over 3 epochs 9.09e-02 (epoch 2)" in line
    assert any(line.startswith("val_acc: largest relative difference 1.41e-02 (epoch 1; reported") for line in lines)
    far = {**HIST, "val_loss": [0.05 * (1 + 2e-3), 0.045, 0.04]}
    ok, lines = verify.compare_histories(HIST, far, 3, exact=False)
    assert not ok and any(line.startswith("val_loss: epoch 1 relative difference 2.00e-03 MISMATCH") for line in lines)


def test_machine_differences():
    here = {"device": "cpu", "cpu": "CPU A", "cpu_capability": "AVX2", "torch": "2.5.0", "threads": 1}
    assert verify.machine_differences(dict(here, wall_seconds=3.0), here) == []
    assert verify.machine_differences(dict(here, cpu="CPU B"), here) == ["cpu: CPU B -> CPU A"]


def test_verify_names_the_unpublished_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_STORE", str(tmp_path / "empty"))
    assert verify.main(["smoke"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: run {make_config('smoke').label()} (") and "make publish PROFILE=smoke" in err
