"""Classification metrics, scikit-learn underneath: confusion matrices, per-class accuracy, the most confused pairs."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix


def confusion(y_true, y_pred, normalize: bool = True, n_classes: int = 10) -> np.ndarray:
    """(n_classes, n_classes) confusion matrix, rows = true class; row-normalized when `normalize`."""
    labels = list(range(n_classes))
    return confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=labels,
                            normalize="true" if normalize else None)


def per_class_accuracy(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Recall of each class: the diagonal of the row-normalized confusion matrix."""
    return np.diag(confusion(y_true, y_pred, normalize=True, n_classes=n_classes))


def top_confused(cm: np.ndarray, k: int = 5) -> list[tuple[int, int, float]]:
    """The k largest off-diagonal entries of a row-normalized matrix: (true class, predicted class, fraction)."""
    off = cm.copy()
    np.fill_diagonal(off, -1)
    order = np.argsort(off, axis=None)[::-1][:k]
    return [(int(i), int(j), float(cm[i, j])) for i, j in zip(*np.unravel_index(order, cm.shape))]


def most_confused(cm: np.ndarray, classes, k: int = 5) -> list[tuple[str, str, float]]:
    """top_confused with the classes' names: (true, predicted, fraction)."""
    return [(classes[i], classes[j], f) for i, j, f in top_confused(cm, k)]


def mean_std(values) -> str:
    """'0.9012 ± 0.0031' over seeds, or the single value, or 'diverged'."""
    v = np.asarray(values, dtype=float)
    if np.isnan(v).any():
        return "diverged"
    return f"{v.mean():.4f}" if len(v) < 2 else f"{v.mean():.4f} ± {v.std(ddof=1):.4f}"
