"""The study's conclusions, each tested for what it means, as one family of tests.

Input: {experiment: {label: Group}} as results.report_groups() returns it (sweeps by name, "arms"), and for
figure 9 the test labels. Each of the study's conclusions becomes one or more rows of fmnist_lib.verdicts (a
comparison, a trend or a stated rule), and the family is judged together there (Holm's adjustment, verdicts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import confusion, top_confused, welch
from .verdicts import (ALPHA, VERDICTS, Row, capacity_cost, compare, diminishing, fails, gap_row, judge, per_seed,
                       seed_count, seed_mean, slow, trend_row)

CONFUSED = ("T-shirt/top", "Pullover", "Coat", "Shirt")  # the study's "shirt, T-shirt, pullover and coat"


# --- figure 9 ------------------------------------------------------------------------------------------------------

def off_diagonal(run, labels) -> float:
    """Mean off-diagonal mass of the row-normalized test confusion matrix (1 - balanced accuracy)."""
    return float(1 - np.diag(confusion(labels, np.asarray(run.predictions))).mean())


def confusion_rows(arms: dict, labels, classes, a="scratch", b="pretrained-frozen") -> list[Row]:
    ga, gb = arms[a], arms[b]
    oa, ob = [off_diagonal(r, labels) for r in ga.runs], [off_diagonal(r, labels) for r in gb.runs]
    rows = [Row("9", "The scratch classifier's confusion matrix shows less confusion than the pretrained one's",
                f"off-diagonal mass (mean of 1 − recall over classes) {a} {seed_mean(oa):.4f} vs {b} "
                f"{seed_mean(ob):.4f}",
                "Welch's t-test", seed_count(ga, gb), p=welch(oa, ob),
                direction=seed_mean(oa) < seed_mean(ob))]
    def top3(counts):
        return top_confused(counts / counts.sum(1, keepdims=True), 3)

    def inside(pairs):
        return all(classes[i] in CONFUSED and classes[j] in CONFUSED for i, j, _ in pairs)

    tops = []
    for g in (ga, gb):  # pooled over seeds, for the reader
        pooled = sum(confusion(labels, np.asarray(r.predictions), normalize=False) for r in g.runs)
        tops += [f"{classes[i]}→{classes[j]} {f:.2f}" + ("" if inside([(i, j, f)]) else " (outside)")
                 for i, j, f in top3(pooled)]
    # judged per seed: the top 3 of both matrices of that seed lie within the four classes
    outcomes = [inside(top3(confusion(labels, np.asarray(ra.predictions), normalize=False)))
                and inside(top3(confusion(labels, np.asarray(rb.predictions), normalize=False)))
                for ra, rb in zip(ga.runs, gb.runs)]
    verdict, held = per_seed(outcomes, seed_count(ga, gb))
    rows.append(Row("9", "The largest confusions are among shirt, T-shirt/top, pullover and coat",
                    f"top 3 confused pairs, seeds pooled ({a}; {b}): " + ", ".join(tops) + f"; per seed: {held}",
                    "rule per seed: the top 3 pairs of both matrices within the 4 classes", seed_count(ga, gb),
                    verdict=verdict, direction=all(outcomes)))
    return rows


# --- the study's conclusions --------------------------------------------------------------------------------------

def _rows(r: dict, labels=None, classes=None):
    if "autoencoder-activation" in r:
        s = r["autoencoder-activation"]
        yield fails(s["relu"], s["sigmoid"], "ReLU output", "Sigmoid output", "2",
                    "The Sigmoid output trains the autoencoder; the ReLU output does not")
    if "autoencoder-optimizer" in r:
        s = r["autoencoder-optimizer"]
        yield fails(s["sgd"], s["adam"], "SGD (lr 1e-3, no momentum)", "Adam", "3",
                    "Adam converges; SGD (lr 1e-3) does not, in the epochs given")
    if "autoencoder-n" in r:
        s = r["autoencoder-n"]
        if 16 in s and 64 in s:
            yield compare(s[64], s[16], "n=64", "n=16", "val_loss", False, "4", "n=16 is too small (worse than n=64)",
                          "validation MSE")
        yield trend_row(s, "val_loss", True, -1, "4", "Loss falls as n grows", "validation MSE", "n")
        if all(v in s for v in (16, 64, 256)):
            yield diminishing(s, "val_loss", "4", "n ≥ 64 is enough: n need not be large (diminishing returns)")
    if "autoencoder-dropout" in r:
        s = r["autoencoder-dropout"]
        yield trend_row(s, "val_loss", False, +1, "5", "Lower dropout gives lower loss", "validation MSE", "p")
        if 0.2 in s and 0.0 in s:
            yield gap_row(s, claim="p = 0.2 prevents overfitting (p = 0 overfits; p = 0.2's generalization gap is "
                                   "smaller)")
            yield capacity_cost(s, claim="p = 0.2 does not sacrifice learning capacity (validation loss near p = 0's)")
    if "autoencoder-lr" in r:
        s = r["autoencoder-lr"]
        others = [v for v in s if v != 1e-3 and not s[v].diverged]
        if others:
            runner = min(others, key=lambda v: seed_mean(s[v].final("val_loss")))
            row = compare(s[1e-3], s[runner], "lr=1e-3", f"the next best, lr={runner:g}", "val_loss", False, "6",
                          "lr = 1e-3 is the best learning rate", "validation MSE")
            row.measured += " (the next best is picked on the same split: a conservative test of 'best')"
            yield row
        for v in sorted(v for v in s if v > 1e-2):
            yield fails(s[v], s[1e-3], f"lr={v:g}", "lr=1e-3", "6", f"lr above 1e-2 diverges (lr = {v:g})")
        if 1e-4 in s:
            yield slow(s[1e-4], s[1e-3], "val_loss", False, "lr=1e-4", "lr=1e-3", "6", "lr = 1e-4 is slow",
                       "validation MSE")
    if "arms" in r:
        s = r["arms"]
        a, b = s["scratch"], s["pretrained-frozen"]
        yield compare(a, b, "scratch", "pretrained-frozen", "test_acc", True, "7, 8",
                      "The classifier from scratch beats the pretrained, frozen one in accuracy", "test accuracy")
        yield compare(a, b, "scratch", "pretrained-frozen", "test_loss", False, "7, 8",
                      "The classifier from scratch beats the pretrained, frozen one in loss", "test cross-entropy")
        if labels is not None and all(r_.predictions is not None for g in (a, b) for r_ in g.runs):
            yield from confusion_rows(s, labels, classes)
    if "classifier-lr" in r:
        s = r["classifier-lr"]
        yield compare(s[1e-3], s[1e-4], "lr=1e-3", "lr=1e-4", "val_acc", True, "10",
                      "Pretrained classifier: lr = 1e-3 is better than 1e-4", "validation accuracy")
        yield slow(s[1e-4], s[1e-3], "val_acc", True, "lr=1e-4", "lr=1e-3", "10",
                   "Pretrained classifier: lr = 1e-4 converges very slowly", "validation accuracy")
    if "classifier-n" in r:
        s = r["classifier-n"]
        yield trend_row(s, "val_loss", True, -1, "11", "Larger n gives lower loss (classifier)",
                        "validation cross-entropy", "n")
        yield trend_row(s, "val_acc", True, +1, "11", "Larger n gives higher accuracy (classifier)",
                        "validation accuracy", "n")
    if "classifier-batch_size" in r:
        s = r["classifier-batch_size"]
        yield trend_row(s, "val_loss", True, +1, "12", "Smaller batches give lower loss",
                        "validation cross-entropy", "batch size")
        yield trend_row(s, "val_acc", True, -1, "12", "Smaller batches give higher accuracy", "validation accuracy",
                        "batch size")


def evaluate_claims(results: dict, labels=None, classes=None, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per tested conclusion: figure, claim, what was measured, the test, p, Holm's p, verdict."""
    rows = judge(list(_rows(results, labels, classes)), alpha)
    return pd.DataFrame([{"figure": r.figure, "claim": r.claim, "measured": r.measured, "test": r.test,
                          "seeds": r.seeds, "p": r.p, "p (Holm)": r.p_holm, "verdict": r.verdict} for r in rows],
                        columns=["figure", "claim", "measured", "test", "seeds", "p", "p (Holm)", "verdict"])


def bottom_line(table: pd.DataFrame) -> str:
    """The answer in a few sentences: how many conclusions hold, and which do not."""
    counts = table.verdict.value_counts()
    parts = [f"{counts[v]} {v}" for v in VERDICTS if v in counts]
    lines = [f"Of the study's {len(table)} tested conclusions: " + ", ".join(parts) + "."]
    for verdict in ("contradicted", "mixed"):
        rows = table[table.verdict == verdict]
        if len(rows):
            lines.append(f"**{verdict.capitalize()}**: " + "; ".join(
                f"{c} (fig. {f})" for c, f in zip(rows.claim, rows.figure)) + ".")
    supported = table[table.verdict == "supported"]
    if len(supported):
        lines.append("**Supported**: " + "; ".join(f"{c} (fig. {f})" for c, f in
                                                    zip(supported.claim, supported.figure)) + ".")
    return "\n\n".join(lines)
