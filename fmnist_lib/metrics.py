"""Classification metrics (scikit-learn underneath) and the statistics that compare groups of seeds."""

from __future__ import annotations

import numpy as np
from scipy import stats
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


def welch(a, b) -> float:
    """Two-sided p-value of Welch's t-test between two samples; NaN when either has fewer than 2 values or neither
    varies (no noise estimate)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2 or np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    if np.std(a) == 0 and np.std(b) == 0:
        return float("nan")  # no variance on either side: no noise estimate, no test
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def mean_std(values) -> str:
    """'0.9012 ± 0.0031' over seeds, or the single value, or 'diverged'."""
    v = np.asarray(values, dtype=float)
    if np.isnan(v).any():
        return "diverged"
    return f"{v.mean():.4f}" if len(v) < 2 else f"{v.mean():.4f} ± {v.std(ddof=1):.4f}"


def trend(x, y, level: float = 0.95) -> dict:
    """Least-squares slope of y on x over every (value, seed) point, with its confidence interval and two-sided
    p-value (t with n - 2 degrees of freedom: the noise estimate is the residuals across values and seeds)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 3 or len(np.unique(x)) < 2:
        return {"slope": float("nan"), "low": float("nan"), "high": float("nan"), "p": float("nan"), "n": len(x)}
    fit = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 2) * fit.stderr
    p = float(fit.pvalue) if fit.stderr > 0 else (0.0 if fit.slope != 0 else 1.0)
    return {"slope": float(fit.slope), "low": float(fit.slope - half), "high": float(fit.slope + half), "p": p,
            "n": len(x)}


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaNs stay NaN and are not counted)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(idx[np.argsort(p[idx], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def bootstrap_ci(samples: list, statistic, level: float = 0.95, reps: int = 4000, seed: int = 0):
    """Percentile interval of statistic(*resampled) where each sample (seeds of one setting) is resampled with
    replacement on its own; NaN when any sample has fewer than 2 values."""
    samples = [np.asarray(s, dtype=float) for s in samples]
    if any(len(s) < 2 or np.isnan(s).any() for s in samples):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = [s[rng.integers(0, len(s), (reps, len(s)))].mean(1) for s in samples]
    values = statistic(*draws)
    values = values[np.isfinite(values)]
    return float(np.quantile(values, 0.5 - level / 2)), float(np.quantile(values, 0.5 + level / 2))
