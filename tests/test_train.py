import math

import torch

from fmnist_lib.train import evaluate, fit

from .conftest import tiny as conftest_tiny


def tiny(**kw):
    return conftest_tiny(**{"epochs": 2, **kw})


def test_history_has_every_metric_per_epoch(tiny_data):
    ae = fit(tiny(model="autoencoder"), tiny_data, progress=False)
    assert set(ae.history) == {"train_loss", "train_eval_loss", "val_loss", "test_loss", "test_loss_dropout",
                               "epoch_seconds"}
    assert all(len(v) == 2 for v in ae.history.values())
    clf = fit(tiny(model="classifier"), tiny_data, progress=False)
    assert set(clf.history) == {"train_loss", "train_eval_loss", "val_loss", "test_loss", "train_eval_acc", "val_acc",
                                "test_acc", "test_unpredicted", "epoch_seconds"}
    assert all(0 <= a <= 1 for a in clf.history["val_acc"])


def test_eval_mode_training_loss_is_measured_on_a_training_subset_without_dropout(tiny_data):
    from fmnist_lib.data import Split
    from fmnist_lib.train import evaluate

    cfg = tiny(model="autoencoder", epochs=1)
    r = fit(cfg, tiny_data, progress=False)
    probe = Split(tiny_data.train.x[:50], tiny_data.train.y[:50])  # as large as the validation split
    assert r.history["train_eval_loss"][-1] == evaluate(r.model(), probe, cfg)["loss"]


def test_same_config_gives_bit_identical_history_and_weights_on_cpu(tiny_data):
    cpu = torch.device("cpu")  # on CUDA, cuDNN's default kernels are not deterministic
    a = fit(tiny(model="classifier"), tiny_data, device=cpu, progress=False)
    b = fit(tiny(model="classifier"), tiny_data, device=cpu, progress=False)
    c = fit(tiny(model="classifier", seed=1), tiny_data, device=cpu, progress=False)
    strip = {k: v for k, v in a.history.items() if k != "epoch_seconds"}
    assert strip == {k: v for k, v in b.history.items() if k != "epoch_seconds"}
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert a.history["train_loss"] != c.history["train_loss"]


def test_evaluation_is_in_eval_mode_and_the_studys_way_is_not(tiny_data):
    result = fit(tiny(model="autoencoder", dropout=0.4), tiny_data, progress=False)
    model = result.model()
    cfg = result.config
    honest = [evaluate(model, tiny_data.test, cfg)["loss"] for _ in range(2)]
    assert honest[0] == honest[1]  # dropout off: deterministic
    noisy = [evaluate(model, tiny_data.test, cfg, dropout=True)["loss"] for _ in range(2)]
    assert noisy[0] != noisy[1]
    assert not model.training  # evaluate restores the mode


def test_divergence_stops_early_and_keeps_history(tiny_data):
    result = fit(tiny(model="classifier", lr=1e6, optimizer="sgd", epochs=5, head="linear", dropout=0.0),
                 tiny_data, progress=False)
    assert result.diverged
    assert len(result.history["train_loss"]) < 5
    assert all(math.isfinite(v) for v in result.history["train_loss"])
