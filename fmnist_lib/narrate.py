"""Sentences computed from results, for the markdown that reads each figure."""

from __future__ import annotations

import numpy as np

from .claims import ALPHA
from .experiments import Group, best_value
from .metrics import mean_std, welch

METRIC_NAMES = {"val_loss": "validation loss", "test_loss": "test loss", "val_acc": "validation accuracy",
                "test_acc": "test accuracy", "train_loss": "training loss"}


def _seeds(groups) -> str:
    n = min(len(g.runs) for g in groups.values())
    return f"{n} seed" + ("s" if n > 1 else "")


def history_text(group: Group) -> str:
    """The autoencoder baseline: final losses, and how far the study's dropout-on test curve sits above."""
    val, test, drop = (group.final(m) for m in ("val_loss", "test_loss", "test_loss_dropout"))
    epochs = len(group.curve("val_loss")[0])
    gap = 100 * (np.mean(drop) / np.mean(test) - 1)
    trend = group.curve("val_loss")[0]
    still = "still falling" if len(trend) > 1 and trend[-1] < trend[-2] else "flat or rising"
    return (f"After {epochs} epochs ({_seeds({0: group})}) the validation MSE is {mean_std(val)} and the test MSE "
            f"{mean_std(test)}; the validation curve is {still} at the last epoch. Measured the study's way, "
            f"with dropout on, the test MSE is {mean_std(drop)}: {gap:+.0f}% against the honest, eval-mode figure, "
            f"so the study's way {'overstated' if gap > 0 else 'understated'} the reconstruction error.")


def sweep_text(groups: dict[object, Group], param: str, metric: str, higher_is_better: bool,
               test_metric: str) -> str:
    """Which value the validation split picks, its test figure, the spread, and what diverged."""
    best = best_value(groups, metric, higher_is_better)
    diverged = [str(v) for v, g in groups.items() if g.diverged]
    if best is None:
        return f"Every value of {param} diverged ({', '.join(diverged)}); no choice can be made."
    ranked = sorted(((g.final(metric).mean(), v) for v, g in groups.items() if not g.diverged),
                    reverse=higher_is_better)
    order = ", ".join(f"{param}={v} ({m:.4f})" for m, v in ranked)
    text = (f"On the validation split ({_seeds(groups)}) the best {param} is **{best}**, with a final "
            f"{METRIC_NAMES[metric]} of {mean_std(groups[best].final(metric))}; its test figure, reported and not "
            f"used to choose, is {mean_std(groups[best].final(test_metric))}. Ranked by {METRIC_NAMES[metric]}: "
            f"{order}.")
    if len(ranked) > 1:
        runner_up = ranked[1][1]
        p = welch(groups[best].final(metric), groups[runner_up].final(metric))
        if np.isnan(p):
            text += f" With one seed, the gap to the runner-up ({param}={runner_up}) has no noise estimate."
        else:
            text += (f" Against the runner-up ({param}={runner_up}) Welch's p = {p:.3g}: "
                     + ("distinguishable." if p < ALPHA else "not distinguishable at these seeds."))
    if diverged:
        text += f" Diverged (loss became non-finite; curves stop there): {param}={', '.join(diverged)}."
    return text


def arms_text(groups: dict[object, Group], pairs, metric: str = "test_acc") -> str:
    """Each arm's final figure and Welch's t-test for each compared pair."""
    lines = [f"Final {METRIC_NAMES[metric]} ({_seeds(groups)}): "
             + "; ".join(f"{name} {mean_std(g.final(metric))}" for name, g in groups.items()) + "."]
    for a, b in pairs:
        fa, fb = groups[a].final(metric), groups[b].final(metric)
        diff = 100 * (np.mean(fa) - np.mean(fb))
        p = welch(fa, fb)
        verdict = ("no noise estimate with one seed" if np.isnan(p) else
                   f"Welch's p = {p:.3g}, " + ("distinguishable" if p < ALPHA else "not distinguishable at these seeds"))
        lines.append(f"- {a} vs {b}: {diff:+.2f} points ({verdict}).")
    return "\n".join(lines)


def confusion_text(cms: dict[str, np.ndarray], classes, pairs: dict[str, list]) -> str:
    """Per model: the weakest classes and the most confused pairs of a row-normalized matrix."""
    lines = []
    for name, cm in cms.items():
        acc = np.diag(cm)
        worst = np.argsort(acc)[:3]
        lines.append(f"- **{name}**: mean per-class accuracy {acc.mean():.3f}; weakest classes "
                     + ", ".join(f"{classes[i]} ({acc[i]:.2f})" for i in worst)
                     + "; most confused: " + ", ".join(f"{t} → {p} ({f:.2f})" for t, p, f in pairs[name][:3]) + ".")
    return "\n".join(lines)
