import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import confusion_matrix

from fmnist_lib import claims, metrics
from fmnist_lib.config import Config
from fmnist_lib.results import Group
from fmnist_lib.train import RunResult


def test_metrics_equal_reference():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
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


def test_claims_of_absent_experiments_are_left_out_and_present_ones_tested():
    def group(label, final, seeds=3):
        return Group(label, [RunResult(Config(seed=s), {"train_loss": [0.1, final], "val_loss": [0.1, final]}, "ok",
                                       state=None) for s in range(seeds)])

    table = claims.evaluate_claims({"autoencoder-optimizer": {"sgd": group("sgd", 0.1), "adam": group("adam", 0.02)}})
    assert list(table.figure) == ["3"]  # the optimizer's conclusion, and nothing of the experiments not given
    assert table.verdict[0] == "supported" and "Adam converges" in table.claim[0]
    assert claims.evaluate_claims({}).columns.tolist() == ["figure", "claim", "measured", "test", "seeds", "p",
                                                           "p (Holm)", "verdict"]
