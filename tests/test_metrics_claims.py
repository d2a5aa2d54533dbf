import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import confusion_matrix

from fmnist_lib import claims, metrics


def test_metrics_equal_reference():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    assert metrics.accuracy(y, p) == np.mean(y == p)
    cm = confusion_matrix(y, p)
    assert np.allclose(metrics.confusion(y, p, normalize=False), cm)
    assert np.allclose(metrics.confusion(y, p).sum(1), 1)
    assert np.allclose(metrics.per_class_accuracy(y, p), np.diag(cm) / cm.sum(1))


def test_most_confused_finds_the_largest_off_diagonal_entry():
    cm = np.eye(3) * 0.8
    cm[0, 2], cm[2, 1] = 0.2, 0.1
    assert metrics.most_confused(cm, ["a", "b", "c"], k=2) == [("a", "c", 0.2), ("c", "b", 0.1)]


def test_welch_matches_scipy_and_needs_two_seeds():
    a, b = [0.90, 0.91, 0.92], [0.88, 0.885, 0.89]
    assert metrics.welch(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert np.isnan(metrics.welch([0.9], [0.8]))


def arr(*v):
    return np.array(v, dtype=float)


def one_claim(results, claim_start):
    table = claims.evaluate_claims(results)
    row = table[table.claim.str.startswith(claim_start)]
    assert len(row) == 1
    return row.iloc[0]


def test_activation_verdict_flips_with_the_numbers():
    res = {"autoencoder-activation": {"sigmoid": {"val_loss": arr(0.01)}, "relu": {"val_loss": arr(0.05)}}}
    assert one_claim(res, "Sigmoid").verdict == "confirmed"
    res["autoencoder-activation"]["relu"]["val_loss"] = arr(0.005)
    assert one_claim(res, "Sigmoid").verdict == "not confirmed"


def test_diverged_side_always_loses():
    res = {"autoencoder-optimizer": {"adam": {"val_loss": arr(0.02)}, "sgd": {"val_loss": arr(np.nan)}}}
    assert one_claim(res, "Adam").verdict == "confirmed"
    res = {"autoencoder-optimizer": {"adam": {"val_loss": arr(np.nan)}, "sgd": {"val_loss": arr(0.02)}}}
    assert one_claim(res, "Adam").verdict == "not confirmed"


def test_several_seeds_need_a_significant_difference():
    res = {"arms": {"scratch": {"test_acc": arr(0.90, 0.91, 0.92)},
                    "pretrained-frozen": {"test_acc": arr(0.80, 0.81, 0.805)}}}
    row = one_claim(res, "The classifier from scratch")
    assert row.verdict == "confirmed" and "3 seeds" in row.evidence
    res["arms"]["pretrained-frozen"]["test_acc"] = arr(0.89, 0.92, 0.91)  # overlapping: p >= 0.05
    row = one_claim(res, "The classifier from scratch")
    assert row.verdict == "not confirmed" and "indistinguishable" in row.measured
    res["arms"]["pretrained-frozen"]["test_acc"] = arr(0.95, 0.96, 0.955)
    assert one_claim(res, "The classifier from scratch").verdict == "not confirmed"


def test_ordered_claims_are_mixed_when_only_some_steps_agree():
    def sweep(losses):
        return {"autoencoder-n": {n: {"val_loss": arr(v)} for n, v in zip((16, 32, 64), losses)}}

    assert one_claim(sweep([0.03, 0.02, 0.01]), "n=16").verdict == "confirmed"
    assert one_claim(sweep([0.03, 0.01, 0.02]), "n=16").verdict == "mixed"
    assert one_claim(sweep([0.01, 0.02, 0.03]), "n=16").verdict == "not confirmed"


def test_lr_claim_counts_divergence_or_failure_above_1e_2():
    base = {1e-4: 0.03, 1e-3: 0.01, 1e-2: 0.015}
    res = {"autoencoder-lr": {lr: {"val_loss": arr(v)} for lr, v in {**base, 1e-1: np.nan}.items()}}
    assert one_claim(res, "lr=1e-3 is best").verdict == "confirmed"
    res["autoencoder-lr"][1e-1]["val_loss"] = arr(0.012)  # trains fine at 0.1: that part contradicts
    assert one_claim(res, "lr=1e-3 is best").verdict == "mixed"
    res["autoencoder-lr"][1e-3]["val_loss"] = arr(0.5)  # 1e-3 worst of all, nothing fails
    assert one_claim(res, "lr=1e-3 is best").verdict == "not confirmed"


def test_batch_claim_uses_loss_and_accuracy():
    def sweep(acc):
        return {"classifier-batch_size": {b: {"val_loss": arr(l), "val_acc": arr(a)}
                                          for b, l, a in zip((25, 100), (0.3, 0.4), acc)}}

    assert one_claim(sweep((0.9, 0.8)), "Smaller batches").verdict == "confirmed"
    assert one_claim(sweep((0.8, 0.9)), "Smaller batches").verdict == "mixed"


def test_claims_absent_experiments_are_skipped():
    assert claims.evaluate_claims({}).empty
