"""What a conclusion's row measures on each run: a metric at the last or the best epoch, the generalization gap, the
overfitting measure, epochs to a target, the share of errors among four classes, values at equal optimizer steps;
and how those read in a sentence. Input: results.Group (the runs of one setting over seeds)."""

from __future__ import annotations

import numpy as np

from .metrics import confusion

UPPER_BODY = ("T-shirt/top", "Pullover", "Coat", "Shirt")  # the study's "shirt, T-shirt, pullover and coat"
UNITS = {"val_loss": "validation loss", "test_loss": "test cross-entropy", "val_acc": "validation accuracy",
         "test_acc": "test accuracy", "gap": "generalization gap"}


def is_accuracy(metric: str) -> bool:
    return metric.endswith("acc")


def unit(metric: str) -> str:
    return UNITS.get(metric, metric)


def value(run, metric: str, at: str = "last") -> float:
    """A run's metric at the last epoch, or at its best epoch (`at="best"`: the minimum of a loss, the maximum of an
    accuracy); NaN for a run that diverged."""
    h = run.history.get(metric) or []
    if run.diverged or not h:
        return float("nan")
    if at == "last":
        return float(h[-1])
    return float(max(h) if is_accuracy(metric) else min(h))


def values(group, metric: str, at: str = "last") -> np.ndarray:
    return np.array([value(r, metric, at) for r in group.runs])


def at_epoch(group, metric: str, epoch: int) -> np.ndarray:
    """Each run's metric after `epoch` epochs (1-based)."""
    return np.array([float(r.history[metric][epoch - 1]) if not r.diverged and len(r.history[metric]) >= epoch
                     else float("nan") for r in group.runs])


def gaps(group) -> np.ndarray:
    """Generalization gap per run: final eval-mode validation loss minus final eval-mode training loss."""
    return values(group, "val_loss") - values(group, "train_eval_loss")


def rise(group) -> np.ndarray:
    """How far each run's validation loss ends above its minimum, as a fraction of the minimum."""
    return values(group, "val_loss") / values(group, "val_loss", "best") - 1


def overfit_measure(group) -> np.ndarray:
    """The larger of the generalization gap (as a fraction of the final validation loss) and the rise."""
    return np.maximum(gaps(group) / values(group, "val_loss"), rise(group))


def mean_text(v, pct: bool = False) -> str:
    """'0.0403 ± 0.0010' (mean ± std over runs), in percent with `pct`; 'diverged' where every run diverged."""
    v = np.asarray(v, dtype=float)
    v = v[~np.isnan(v)]
    if not len(v):
        return "diverged"
    scale, fmt = (100, "{:.2f}%") if pct else (1, "{:.4g}")
    text = fmt.format(scale * v.mean())
    return text if len(v) < 2 else f"{text} ± {fmt.format(scale * v.std(ddof=1))}"


def still_falling_text(group) -> str:
    """'; its loss falls by 0.015-0.026 over the epochs and is still falling at the end (last 5 epochs)'."""
    falls, ends = [], []
    for r in group.runs:
        h = np.asarray(r.history.get("val_loss") or [], dtype=float)
        if r.diverged or len(h) < 6:
            continue
        falls.append(h[0] - h[-1])
        ends.append(np.polyfit(np.arange(5), h[-5:], 1)[0] < 0)
    if not falls:
        return ""
    return (f"; its validation loss falls by {min(falls):.3g}-{max(falls):.3g} over the epochs and is still falling "
            f"at the end in {sum(ends)} of {len(ends)} runs (slope of the last 5 epochs)")


def epochs_to_reach(run, metric: str, target: float) -> int:
    """First epoch (1-based) at which the metric reaches target; epochs + 1 when it never does."""
    for i, v in enumerate(run.history.get(metric) or []):
        if np.isfinite(v) and (v >= target if is_accuracy(metric) else v <= target):
            return i + 1
    return run.config.epochs + 1


def _target(final: float, metric: str) -> float:
    return final - 0.01 if is_accuracy(metric) else final * 1.1  # 1 point below / within 10% of


def epochs_to_reference(group, reference, metric: str, per_seed: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """(epochs of each run of `group`, epochs of each reference run, the target in words). The target is the
    reference's final value less 1 point of accuracy, or plus 10% of loss: per seed, the same seed's reference run
    (`per_seed`), else the reference's mean. Each reference run is timed against its own target."""
    ref_final = {r.config.seed: value(r, metric) for r in reference.runs}
    mean_target = _target(float(np.nanmean(list(ref_final.values()))), metric)
    a = [epochs_to_reach(r, metric, _target(ref_final[r.config.seed], metric)
                         if per_seed and r.config.seed in ref_final else mean_target) for r in group.runs]
    b = [epochs_to_reach(r, metric, _target(ref_final[r.config.seed], metric) if per_seed else mean_target)
         for r in reference.runs]
    words = ("within 1 point of" if is_accuracy(metric) else "within 10% of") + \
        (" the same seed's reference run's final value" if per_seed else f" the reference's mean ({mean_target:.4g})")
    return np.array(a, dtype=float), np.array(b, dtype=float), words


def epochs_text(epochs, group) -> str:
    limit = group.runs[0].config.epochs
    return f"{group.label}: " + ", ".join(str(int(e)) if e <= limit else f">{limit}" for e in epochs)


def upper_body_share(runs, labels, classes) -> tuple[np.ndarray, float, str]:
    """(each run's share of test errors whose true and predicted classes are both among UPPER_BODY, the share an even
    spread over the 90 ordered pairs gives, a sentence on the runs with a never-predicted class)."""
    inside = np.array([c in UPPER_BODY for c in classes])
    pair = np.outer(inside, inside)
    np.fill_diagonal(pair, False)
    shares, dead = [], []
    for r in runs:
        cm = confusion(labels, np.asarray(r.predictions), normalize=False)
        off = cm.copy()
        np.fill_diagonal(off, 0)
        shares.append(off[pair].sum() / max(off.sum(), 1))
        if (cm.sum(0) == 0).any():  # a class never predicted: its images go to the argmax of all-zero logits
            dead.append(r)
    even = pair.sum() / (len(classes) * (len(classes) - 1))
    note = (f"{len(dead)} of {len(runs)} runs never predict some class (with the statement's head, a class whose "
            f"logit ReLU keeps at 0 is never the argmax; its images go to class 0, {classes[0]})" if dead
            else "every run predicts every class")
    return np.array(shares), float(even), note


def equal_steps(groups: dict) -> dict:
    """{batch size: the epoch (1-based) at which it has taken as many optimizer steps as the largest batch size takes
    over all its epochs}."""
    largest = max(groups)
    g = groups[largest].runs[0].config
    steps = g.epochs * (g.train_size // largest)
    return {b: max(1, round(steps * b / g.train_size)) for b in groups}


def steps_text(groups: dict, epochs: dict) -> str:
    g = groups[max(groups)].runs[0].config
    return (f"{g.epochs * (g.train_size // max(groups)):,} optimizer steps (epoch "
            + ", ".join(f"{epochs[b]} for batch {b}" for b in sorted(groups)) + ")")
