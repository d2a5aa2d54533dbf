import numpy as np
from sklearn.metrics import confusion_matrix

from fmnist_lib import metrics


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
