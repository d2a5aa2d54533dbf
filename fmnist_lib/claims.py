"""The study's conclusions, each as the rows of fmnist_lib.verdicts that test what it says, in two families: the
statement's head and plain logits (every classifier conclusion is computed under both, the plain-logits experiments
being named with plan.LINEAR). Shared settings bring every seed they have (pool_shared). docs/analysis.md is the plan.

Input: {experiment: {label: Group}} as results.report_groups() returns it, and for figure 9 the test labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import measures as m
from . import stats
from .plan import LINEAR
from .verdicts import (FAMILIES, MARGIN, Row, compare, confusion_share, effect_text, fails, judge, no_worse,
                       overfitting, slow, trend, two_groups)

# --- the study's conclusions ------------------------------------------------------------------------------------------

def _autoencoder_rows(r: dict):
    if "autoencoder-activation" in r:
        s = r["autoencoder-activation"]
        if _has(s, "relu", "sigmoid"):
            yield fails(s["relu"], s["sigmoid"], "ReLU output", "Sigmoid output", "2",
                    "The Sigmoid output trains the autoencoder; the ReLU output does not")
    if "autoencoder-optimizer" in r:
        s = r["autoencoder-optimizer"]
        if _has(s, "sgd", "adam"):
            yield fails(s["sgd"], s["adam"], "SGD (lr 1e-3, no momentum)", "Adam", "3",
                    "Adam converges; SGD (lr 1e-3) does not, in the epochs given")
    if "autoencoder-n" in r:
        s = r["autoencoder-n"]
        if _has(s, 16, 64):
            yield _loss_row(lambda at: compare(s[64], s[16], "n=64", "n=16", "val_loss", "4",
                                           "n = 16 is too small (worse than n = 64)", "statement", at))
        if len(s) > 1:
            yield _loss_row(lambda at: trend(s, "val_loss", True, -1, "4", "Loss falls as n grows", "statement", "n",
                                             at))
        yield trend(s, "gap", True, +1, "4", "Larger n overfits more (the generalization gap grows with n)",
                    "statement", "n", x_of=lambda v, g: m.gaps(g), label="generalization gap",
                    scale_of=lambda g: m.values(g, "val_loss"))
    if "autoencoder-dropout" in r:
        s = r["autoencoder-dropout"]
        yield _loss_row(lambda at: trend(s, "val_loss", False, +1, "5", "Lower dropout gives lower loss",
                                         "statement", "p", at))
        if _has(s, 0.2, 0.0):
            yield no_worse(s[0.2], s[0.0], "p=0.2", "p=0", "val_loss", "5",
                       "p = 0.2 does not sacrifice learning capacity (validation loss no worse than p = 0's)",
                       "statement")
        if _has(s, 0.2, 0.0):
            yield overfitting(s, 0.2, 0.0, "5", "p = 0.2 prevents overfitting (50,000 training images)",
                          "50,000 images")
    if "autoencoder-dropout-small" in r:
        s = r["autoencoder-dropout-small"]
        if _has(s, 0.2, 0.0):
            yield overfitting(s, 0.2, 0.0, "5", "p = 0.2 prevents overfitting where it can exist (5,000 images)",
                          f"{s[0.0].runs[0].config.train_size:,} images")
    if "autoencoder-lr" in r:
        s = r["autoencoder-lr"]
        if _has(s, 1e-3) and len(s) > 1:
            yield _loss_row(lambda at: _best_lr(s, at))
        for v in sorted(v for v in s if v > 1e-2):
            yield fails(s[v], s[1e-3], f"lr={v:g}", "lr=1e-3", "6", f"lr above 1e-2 fails to train (lr = {v:g})")
        if _has(s, 1e-4, 1e-3):
            yield slow(s[1e-4], s[1e-3], "val_loss", "6", "lr = 1e-4 is slow", "statement", per_seed=True)
        if _has(s, 1e-2, 1e-3):
            a, b = m.rise(s[1e-3]), m.rise(s[1e-2])
            yield two_groups("6", "lr = 1e-3 is more stable than 1e-2 (its validation loss rises less above its minimum)",
                       "statement", a, b, -1, MARGIN["fraction"], 1.0,
                       "of the minimum (rise, fraction)",
                       f"rise above the minimum lr=1e-3 {m.mean_text(a, pct=True)}, lr=1e-2 {m.mean_text(b, pct=True)}")


def _has(groups: dict, *labels) -> bool:
    """Every label has runs (a partial report may lack some)."""
    return all(label in groups and groups[label].runs for label in labels)


def _best_lr(s: dict, at: str) -> Row:
    others = [v for v in s if v != 1e-3 and not s[v].diverged]
    runner = min(others, key=lambda v: np.nanmean(m.values(s[v], "val_loss", at)))
    row = compare(s[1e-3], s[runner], "lr=1e-3", f"the next best, lr={runner:g}", "val_loss", "6",
                  "lr = 1e-3 is the best learning rate", "statement", at)
    row.measured += " (the runner-up picked on the same runs: a conservative test of 'best')"
    return row


def _loss_row(make) -> Row:
    """A loss row judged at the last epoch, with the same row at each run's best epoch beside it."""
    row = make("last")
    row.at_best = make("best")
    return row


def _classifier_rows(r: dict, family: str, labels, classes):
    suffix = "" if family == "statement" else LINEAR
    arms = r.get("arms" + suffix)
    if arms and _has(arms, "scratch", "pretrained-frozen"):
        a, b = arms["scratch"], arms["pretrained-frozen"]
        yield compare(a, b, "scratch", "pretrained-frozen", "test_acc", "7, 8",
                      "The classifier from scratch beats the pretrained, frozen one in accuracy", family)
        yield compare(a, b, "scratch", "pretrained-frozen", "test_loss", "7, 8",
                      "The classifier from scratch beats the pretrained, frozen one in loss", family)
    if arms and _has(arms, "pretrained-frozen", "random-frozen"):
        yield no_worse(arms["pretrained-frozen"], arms["random-frozen"], "pretrained-frozen", "random-frozen",
                       "test_acc", "7, 8", "Reason: the pretrained encoder holds no more of what classifies than a "
                       "random one (pretrained-frozen no better than random-frozen)", family, better=True)
    if arms and _has(arms, "pretrained-finetune", "scratch"):
        yield no_worse(arms["pretrained-finetune"], arms["scratch"], "pretrained-finetune", "scratch", "test_acc",
                       "7, 8", "Reason: starting from the pretrained encoder does not help when it trains on "
                       "(fine-tuned no better than scratch)", family, better=True)
    if arms and _has(arms, "scratch", "pretrained-frozen") and labels is not None and \
            all(x.predictions is not None for name in ("scratch", "pretrained-frozen") for x in arms[name].runs):
        yield confusion_share(arms, ("scratch", "pretrained-frozen"), labels, classes, family)
    s = r.get("classifier-lr" + suffix)
    if s and _has(s, 1e-3, 1e-4):
        yield compare(s[1e-3], s[1e-4], "lr=1e-3", "lr=1e-4", "val_acc", "10",
                      "Pretrained classifier: lr = 1e-3 is better than 1e-4", family)
        yield slow(s[1e-4], s[1e-3], "val_acc", "10", "Pretrained classifier: lr = 1e-4 converges very slowly",
                   family, per_seed=True)
    if s and _has(s, 1e-3, 1e-2):
        yield compare(s[1e-3], s[1e-2], "lr=1e-3", "lr=1e-2", "val_acc", "10",
                      "Pretrained classifier: lr = 1e-3 is better than 1e-2 (the conclusions' balance)", family)
    s = r.get("classifier-n" + suffix)
    if s and len(s) > 1:
        yield trend(s, "val_loss", True, -1, "11", "Larger n gives lower loss (classifier)", family, "n")
        yield trend(s, "val_acc", True, +1, "11", "Larger n gives higher accuracy (classifier)", family, "n")
    s = r.get("classifier-batch_size" + suffix)
    if s and len(s) > 1:
        yield trend(s, "val_loss", True, +1, "12", "Smaller batches give lower loss", family, "batch size")
        yield trend(s, "val_acc", True, -1, "12", "Smaller batches give higher accuracy", family, "batch size")
        steps = m.equal_steps(s)
        row = trend(s, "val_loss", True, 0, "12", "Reason, 'more frequent updates': at equal optimizer steps "
                    "smaller batches are no better (loss)", family, "batch size",
                    x_of=lambda v, g: m.at_epoch(g, "val_loss", steps[v]))
        row.measured = f"at {m.steps_text(s, steps)}: " + row.measured
        yield row


def pool_shared(results: dict) -> dict:
    """The same results, each group holding every run of its setting found anywhere in `results` (a setting that is
    in several experiments brings all its seeds to each)."""
    runs: dict[str, dict] = {}
    for groups in results.values():
        for g in groups.values():
            for run in g.runs:
                runs.setdefault(run.config.replace(seed=0).key(), {})[run.config.key()] = run
    out = {}
    for name, groups in results.items():
        out[name] = {}
        for label, g in groups.items():
            pooled = runs[g.runs[0].config.replace(seed=0).key()] if g.runs else {}
            out[name][label] = type(g)(label, sorted(pooled.values(), key=lambda x: x.config.seed))
    return out


def evaluate_claims(results: dict, labels=None, classes=None, alpha: float = stats.ALPHA) -> pd.DataFrame:
    """One row per tested conclusion and head: figure, claim, head, effect and interval, the test, p, the smallest
    p, Holm's p, verdict, the verdict at the best epoch where it differs, and the seeds an undecided row needs."""
    r = pool_shared(results)
    rows = list(_autoencoder_rows(r))
    for family in FAMILIES:
        rows += list(_classifier_rows(r, family, labels, classes))
    rows = judge(rows, alpha)
    return pd.DataFrame([{
        "figure": x.figure, "claim": x.claim, "head": x.head, "effect": effect_text(x), "measured": x.measured,
        "seeds": x.seeds, "test": x.tested.method + (" (exact)" if x.tested.exact else " (20,000 relabelings)"),
        "p": x.tested.p, "smallest p": x.tested.p_min, "p (Holm)": x.p_holm, "verdict": x.verdict,
        "at best epoch": (x.at_best.verdict if x.at_best is not None and x.at_best.verdict != x.verdict else ""),
        "seeds needed": x.needed, "estimate": x.test.estimate, "low": x.test.low, "high": x.test.high,
        "margin": x.margin, "reference": x.reference, "family": x.family,
    } for x in rows])


# the earlier wording of a conclusion -> (today's wording, what changed in how it is tested)
EARLIER_WORDING = {
    "The Sigmoid output trains the autoencoder; the ReLU output does not":
        (None, "rule per seed (2 of 3) → permutation test of the final loss against the 10-seed baseline, "
               "with the claimed size (twice the reference's loss) to clear"),
    "Adam converges; SGD (lr 1e-3) does not, in the epochs given":
        (None, "rule per seed → permutation test against the baseline, with the claimed size to clear"),
    "n=16 is too small (worse than n=64)":
        ("n = 16 is too small (worse than n = 64)", "Welch on 3 vs 3 → permutation test with every seed of n = 64 "
                                                    "(the baseline's 10)"),
    "Loss falls as n grows": (None, "t-test of the slope → permutation test of the slope"),
    "n ≥ 64 is enough: n need not be large (diminishing returns)":
        ("Larger n overfits more (the generalization gap grows with n)",
         "the study does not claim diminishing returns; it says n ≪ 784 to avoid overfitting: the gap is tested"),
    "Lower dropout gives lower loss": (None, "t-test of the slope → permutation test of the slope"),
    "p = 0.2 prevents overfitting (p = 0 overfits; p = 0.2's generalization gap is smaller)":
        ("p = 0.2 prevents overfitting (50,000 training images)",
         "a claim whose premise fails is no longer 'contradicted' but 'premise absent'; tested again on 5,000 "
         "images, where overfitting can exist"),
    "p = 0.2 does not sacrifice learning capacity (validation loss near p = 0's)":
        ("p = 0.2 does not sacrifice learning capacity (validation loss no worse than p = 0's)",
         "bootstrap interval → inverted permutation test, margin 2% of p = 0's loss"),
    "lr = 1e-3 is the best learning rate": (None, "Welch → permutation test with the baseline's 10 seeds; the best "
                                                  "epoch shown beside the last"),
    "lr above 1e-2 diverges (lr = 0.1)": ("lr above 1e-2 fails to train (lr = 0.1)",
                                          "rule per seed → permutation test with the claimed size to clear"),
    "lr = 1e-4 is slow": (None, "rule (every seed slower) → permutation test of epochs to the target, each seed "
                                "against its own seed's lr = 1e-3 run"),
    "The classifier from scratch beats the pretrained, frozen one in accuracy":
        (None, "Welch on bimodal samples → permutation test; 10 seeds per arm"),
    "The classifier from scratch beats the pretrained, frozen one in loss":
        (None, "Welch → permutation test; 10 seeds per arm"),
    "The scratch classifier's confusion matrix shows less confusion than the pretrained one's":
        ("", "dropped: 1 − mean recall equals 1 − accuracy on a balanced test set, a duplicate of the accuracy row"),
    "The largest confusions are among shirt, T-shirt/top, pullover and coat":
        (None, "top-3 rule per seed → the share of errors among the four classes against an even spread, by sign "
               "flips; runs with a never-predicted class explained"),
    "Pretrained classifier: lr = 1e-3 is better than 1e-4": (None, "Welch → permutation test, 10 seeds of lr = 1e-3"),
    "Pretrained classifier: lr = 1e-4 converges very slowly":
        (None, "threshold from a mean including a seed with a dead class → each seed against its own lr = 1e-3 run, "
               "by a permutation test"),
    "Larger n gives lower loss (classifier)": (None, "t-test of the slope → permutation test of the slope"),
    "Larger n gives higher accuracy (classifier)": (None, "t-test of the slope → permutation test of the slope"),
    "Smaller batches give lower loss": (None, "t-test of the slope → permutation test of the slope"),
    "Smaller batches give higher accuracy": (None, "t-test of the slope → permutation test of the slope"),
}
