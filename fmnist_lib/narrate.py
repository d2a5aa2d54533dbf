"""Sentences computed from results, for the markdown that reads each figure."""

from __future__ import annotations

import numpy as np
import torch

from .config import Profile
from .metrics import mean_std
from .results import Group, best_value
from .words import metric_label, param_label


def _seeds_text(groups) -> str:
    n = min(len(g.runs) for g in groups.values())
    return f"{n} seed" + ("s" if n > 1 else "")


def history_text(group: Group) -> str:
    """The autoencoder baseline: final losses, and how far the study's dropout-on test curve sits above."""
    val, test, drop = (group.final(m) for m in ("val_loss", "test_loss", "test_loss_dropout"))
    epochs = len(group.curve("val_loss")[0])
    gap = 100 * (np.mean(drop) / np.mean(test) - 1)
    trend = group.curve("val_loss")[0]
    still = "still falling" if len(trend) > 1 and trend[-1] < trend[-2] else "flat or rising"
    return (f"After {epochs} epochs ({_seeds_text({0: group})}) the validation MSE is {mean_std(val)} and the test MSE "
            f"{mean_std(test)}; the validation curve is {still} at the last epoch. Measured the study's way, "
            f"with dropout on, the test MSE is {mean_std(drop)}: {gap:+.0f}% against the honest, eval-mode figure, "
            f"so the study's way {'overstated' if gap > 0 else 'understated'} the reconstruction error.")


def sweep_text(groups: dict[object, Group], param: str, metric: str, higher_is_better: bool,
               test_metric: str) -> str:
    """Which value the validation split picks, its test figure, the spread, and what diverged."""
    model = next(iter(groups.values())).runs[0].config.model
    name, test_name = metric_label(metric, model), metric_label(test_metric, model)
    best = best_value(groups, metric, higher_is_better)
    diverged = [str(v) for v, g in groups.items() if g.diverged]
    if best is None:
        return f"Every value of {param} diverged ({', '.join(diverged)}); no choice can be made."
    ranked = sorted(((g.final(metric).mean(), v) for v, g in groups.items() if not g.diverged),
                    reverse=higher_is_better)
    order = ", ".join(f"{param}={v} ({m:.4f})" for m, v in ranked)
    text = (f"On the validation split ({_seeds_text(groups)}) the best {param_label(param)} is **{best}**, with a final "
            f"{name} of {mean_std(groups[best].final(metric))}; its {test_name}, reported and not used to choose, "
            f"is {mean_std(groups[best].final(test_metric))}. Ranked by {name}: {order}.")
    if diverged:
        text += f" Diverged (loss became non-finite; curves stop there): {param}={', '.join(diverged)}."
    return text


def arms_text(groups: dict[object, Group], pairs, metric: str = "test_acc") -> str:
    """Each arm's final figure and the difference of each compared pair (the report's claims table tests the
    study's pair, with Holm's correction; no second, uncorrected p-value here)."""
    lines = [f"Final {metric_label(metric, 'classifier')} ({_seeds_text(groups)}): "
             + "; ".join(f"{name} {mean_std(g.final(metric))}" for name, g in groups.items()) + "."]
    for a, b in pairs:
        fa, fb = groups[a].final(metric), groups[b].final(metric)
        diff = 100 * (np.mean(fa) - np.mean(fb))
        lines.append(f"- {a} vs {b}: " + ("a side diverged." if np.isnan(diff) else f"{diff:+.2f} points."))
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


# The anchors the report places its numbers beside (../shared/study/ASSIGNMENT.md; Zalando's benchmark page).
PUBLIC_WORKS = {"scratch": (0.916, 0.927), "pretrained-finetune": (0.923, 0.928),
                "pretrained-frozen": (0.837, 0.907), "random-frozen": (0.847, 0.890)}
ZALANDO_CNN = (0.876, 0.932)
HUMAN = 0.835


def context_text(results: dict) -> str:
    """This reproduction's headline numbers beside the public works' and Zalando's benchmark."""
    arms, base = results["arms"], results["baseline"]["baseline"]
    lines = [f"Here: autoencoder test MSE {mean_std(base.final('test_loss'))} (n = 64, p = 0.2)."]
    for name, (lo, hi) in PUBLIC_WORKS.items():
        if name in arms:
            acc = arms[name].final("test_acc")
            where = ("diverged, against" if np.isnan(np.mean(acc)) else "inside" if lo <= np.mean(acc) <= hi
                     else "below" if np.mean(acc) < lo else "above")
            lines.append(f"- {name}: test accuracy {mean_std(acc)}, {where} the public works' {lo:.3f}-{hi:.3f}.")
    best = max(arms, key=lambda k: np.mean(arms[k].final("test_acc")))
    acc = np.mean(arms[best].final("test_acc"))
    lines.append(f"- The best arm here ({best}, {acc:.3f}) against Zalando's 2-convolution CNNs "
                 f"({ZALANDO_CNN[0]:.3f}-{ZALANDO_CNN[1]:.3f}) and a human ({HUMAN:.3f}).")
    return "\n".join(lines)


def reconstruction_text(images: torch.Tensor, recon: torch.Tensor, classes, test_mse: float) -> str:
    """The spread of per-image MSE over the reconstruction examples (images (B, 1, 28, 28) and their
    reconstructions, one per class in class order), against the whole test split's mean."""
    per_image = ((recon - images) ** 2).mean(dim=(1, 2, 3))  # (B,)
    worst, best = int(per_image.argmax()), int(per_image.argmin())
    return (f"Per-image MSE of these examples ranges from {float(per_image.min()):.4f} ({classes[best]}) to "
            f"{float(per_image.max()):.4f} ({classes[worst]}); the mean over the whole test split is {test_mse:.4f}.")


def profile_text(p: Profile, left_out: list[str], pages: list[str]) -> str:
    """The report's opening line: the profile's sizes, the experiments a partial report leaves out, the notebook
    pages it links."""
    return (f"Profile **{p.name}**: autoencoders {p.ae_epochs} epochs, classifiers {p.clf_epochs} epochs, "
            f"{p.train_size:,} training images, {p.eval_size:,} validation and {p.eval_size:,} test images; "
            f"planned: {len(p.seeds)} seed(s) per setting, {len(p.study_seeds)} for the baseline autoencoder and the "
            f"study's two arms (scratch, pretrained-frozen) under each head."
            + (f" **Partial report**: each setting shows the seeds published so far (each row says how many); left "
               f"out, with none yet: {', '.join(left_out)}." if left_out else "")
            + (" The notebooks behind it: " + ", ".join(f"[{n}]({n}.html)" for n in pages) + "." if pages else ""))


def silent_classes_text(groups: dict[object, Group], param: str) -> str:
    """For classifier runs with the statement's ReLU · Dropout head: how many classes each seed never predicts on
    the test split at its last epoch, per swept value; empty for other runs."""
    parts = []
    for value, g in groups.items():
        if g.runs[0].config.model != "classifier" or g.runs[0].config.head != "relu":
            return ""
        counts = [int(r.history["test_unpredicted"][-1]) for r in g.runs if r.history.get("test_unpredicted")]
        parts.append(f"{param_label(param)} {value}: {', '.join(map(str, counts))}")
    return ("Classes never predicted on the test split at the last epoch, per seed (the statement's ReLU · Dropout "
            "head can silence a class for good): " + "; ".join(parts) + ".") if parts else ""


def mixed_machines_text(mixed: list[str]) -> str:
    """The warning under the claims table when settings mix kinds of machine (lines of
    provenance.mixed_machines); empty when none does."""
    if not mixed:
        return ""
    return (f"**{len(mixed)} setting(s) mix kinds of machine across their seeds**, so their spread holds the "
            "machines' differences as well as the seeds': " + "; ".join(mixed) + ".")
