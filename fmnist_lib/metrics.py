"""Classification metrics (scikit-learn underneath) and the statistics that compare groups of seeds."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix


def accuracy(y_true, y_pred) -> float:
    return float(accuracy_score(np.asarray(y_true), np.asarray(y_pred)))


def confusion(y_true, y_pred, normalize: bool = True, n_classes: int = 10) -> np.ndarray:
    """(n_classes, n_classes) confusion matrix, rows = true class; row-normalized when `normalize`."""
    labels = list(range(n_classes))
    return confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=labels,
                            normalize="true" if normalize else None)


def per_class_accuracy(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Recall of each class: the diagonal of the row-normalized confusion matrix."""
    return np.diag(confusion(y_true, y_pred, normalize=True, n_classes=n_classes))


def most_confused(cm: np.ndarray, classes, k: int = 5) -> list[tuple[str, str, float]]:
    """The k largest off-diagonal entries of a row-normalized matrix: (true, predicted, fraction)."""
    off = cm.copy()
    np.fill_diagonal(off, -1)
    order = np.argsort(off, axis=None)[::-1][:k]
    return [(classes[i], classes[j], float(cm[i, j])) for i, j in zip(*np.unravel_index(order, cm.shape))]


def welch(a, b) -> float:
    """Two-sided p-value of Welch's t-test between two samples; NaN when either has fewer than 2 values."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2 or np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    if np.std(a) == 0 and np.std(b) == 0:
        return 0.0 if a.mean() != b.mean() else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def mean_std(values) -> str:
    """'0.9012 ± 0.0031' over seeds, or the single value, or 'diverged'."""
    v = np.asarray(values, dtype=float)
    if np.isnan(v).any():
        return "diverged"
    return f"{v.mean():.4f}" if len(v) < 2 else f"{v.mean():.4f} ± {v.std(ddof=1):.4f}"
