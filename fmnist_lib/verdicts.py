"""The rows a conclusion becomes, each tested the way docs/analysis.md fixes: an effect with its interval in the
metric's unit, a permutation test (fmnist_lib.stats), and, once a family is judged, Holm's p and a verdict word.
A row is one of: a comparison of two settings, a trend over a sweep, "no worse than" within a margin, "fails to
train" (a claimed size), "slow" (epochs to a target), "prevents overfitting" (with its premise), the share of errors
among four classes. The measures they test are fmnist_lib.measures; the study's catalogue is fmnist_lib.claims."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from . import measures as m
from . import stats

FAIL_FACTOR = 2.0  # "fails to train": a final validation loss at least this multiple of the reference's
MARGIN = {"loss": 0.02, "acc": 0.01, "epochs": 1.0, "fraction": 0.01, "share": 0.05}  # docs/analysis.md
OVERFIT = 0.05  # the premise "p = 0 overfits": its overfitting measure above this fraction
FAMILIES = ("statement", "plain logits")
HEAD_OF = {"statement": "the statement's (ReLU on the logits)", "plain logits": "plain logits"}
CLASSIFIER_FIGURES = ("7, 8", "9", "10", "11", "12")

@dataclass
class Row:
    figure: str
    claim: str
    family: str
    test: stats.Test
    claimed: int  # +1 / -1: the sign the study asserts for the effect; 0: "no worse than the margin"
    margin: float  # in the effect's unit
    reference: float  # the reference's mean (what the forest plot divides by)
    unit: str  # e.g. "validation MSE", "epochs", "test accuracy per doubling of n"
    measured: str  # what the reader needs beside the effect: the groups' means, notes
    seeds: str  # e.g. "5 vs 10"
    bar: float | None = None  # the size the claim asserts ("fails": twice the reference)
    premise: str | None = None  # set when the premise is absent: the verdict is then "premise absent"
    partial: bool = False  # diverged runs left out: a "supported" becomes "mixed"
    unsettled: bool = False  # its premise is neither shown nor ruled out: at most "inconclusive"
    needed: int | None = None  # seeds per setting for stats.POWER at the row's Holm level (undecided rows)
    at_best: "Row | None" = None  # the same row at each run's best epoch (loss rows)
    p_holm: float = float("nan")
    verdict: str = ""
    alpha_row: float = float("nan")  # the level Holm asked of this row's p
    pair: tuple | None = field(default=None, repr=False)  # the two samples, for seeds_needed
    line: tuple | None = field(default=None, repr=False)  # a trend's x and y, for seeds_needed_slope
    at_margin: stats.Test | None = None  # claimed 0 / a bar: the test of "the effect equals the margin" (the bar)

    @property
    def tested(self) -> stats.Test:
        """The test whose p enters the family's correction: at the margin for a "no worse" row, at the claimed size
        for a row with a bar ("fails to train"), else at 0."""
        return self.at_margin if self.at_margin is not None else self.test

    @property
    def head(self) -> str:
        return "—" if self.family == "statement" and not self.classifier else HEAD_OF[self.family]

    @property
    def classifier(self) -> bool:
        return self.figure in CLASSIFIER_FIGURES


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "−∞" if x < 0 else "+∞"
    return f"{x:+.3g}"


def effect_text(row: Row) -> str:
    """'+0.0111 validation MSE (95% CI +0.009 to +0.013)', or the one-seed difference."""
    t = row.test
    if math.isnan(t.estimate):
        return "not measurable"
    ci = "" if math.isnan(t.low) else f" (95% CI {_fmt(t.low)} to {_fmt(t.high)})"
    return f"{_fmt(t.estimate)} {row.unit}{ci}"


# --- rows ----------------------------------------------------------------------------------------------------------

def two_groups(figure, claim, family, a, b, claimed, margin, reference, unit, measured, **kw) -> Row:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    partial = bool(np.isnan(a).any() or np.isnan(b).any())
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if partial:
        measured += "; diverged runs left out"
    bound = margin if claimed == 0 else None if kw.get("bar") is None else claimed * kw["bar"]
    if bound is not None:  # "no worse than the margin", "at least the claimed size": tested against that bound
        shifted = stats.two_sample(a - bound, b)
        what = "the margin" if claimed == 0 else "the claimed size"
        kw.update(at_margin=replace(shifted, method=f"{shifted.method} against {what}"), pair=(a - bound, b))
    return Row(figure, claim, family, stats.two_sample(a, b), claimed, margin, reference, unit, measured,
               f"{len(a)} vs {len(b)}", partial=partial, **{"pair": (a, b), **kw})


def compare(a, b, name_a, name_b, metric, figure, claim, family, at="last", relative_margin=True) -> Row:
    """"a is better than b on metric": the difference in means a - b; for a loss the claimed sign is -1."""
    fa, fb = m.values(a, metric, at), m.values(b, metric, at)
    ref = np.nanmean(fb)
    acc = m.is_accuracy(metric)
    margin = MARGIN["acc"] if acc else MARGIN["loss"] * ref
    measured = f"{name_a} {m.mean_text(fa)} vs {name_b} {m.mean_text(fb)}"
    return two_groups(figure, claim, family, fa, fb, +1 if acc else -1, margin, ref, m.unit(metric), measured)


def no_worse(a, b, name_a, name_b, metric, figure, claim, family, better: bool = False) -> Row:
    """"a is no worse than b" (within the margin): the effect is how much worse a is (b - a for an accuracy, a - b
    for a loss); with `better`, "a is no better than b": how much better a is."""
    fa, fb = m.values(a, metric), m.values(b, metric)
    ref = np.nanmean(fb)
    acc = m.is_accuracy(metric)
    sign = (-1 if acc else 1) * (-1 if better else 1)
    measured = f"{name_a} {m.mean_text(fa)} vs {name_b} {m.mean_text(fb)}"
    unit = m.unit(metric) + (" gained" if better else " lost" if acc else " added")
    return two_groups(figure, claim, family, sign * fa, sign * fb, 0, MARGIN["acc"] if acc else MARGIN["loss"] * ref, ref,
                unit, measured)


def fails(group, reference, name, ref_name, figure, claim) -> Row:
    """"group fails to train": its final validation loss at least FAIL_FACTOR x the reference's (a diverged run
    counts as MSE 1, the largest an image in [0, 1] allows)."""
    a = np.nan_to_num(m.values(group, "val_loss"), nan=1.0)
    b = m.values(reference, "val_loss")
    ref = float(np.mean(b))
    row = two_groups(figure, claim, "statement", a, b, +1, MARGIN["loss"] * ref, ref, "validation MSE",
               f"{name} {m.mean_text(a)} vs {ref_name} {m.mean_text(b)}; the claim asserts at least "
               f"{FAIL_FACTOR:g}× ({FAIL_FACTOR * ref:.4g})" + m.still_falling_text(group),
               bar=(FAIL_FACTOR - 1) * ref)
    return row


def trend(groups, metric, log2, claimed, figure, claim, family, param, at="last", x_of=None, label=None,
          scale_of=None) -> Row:
    """"metric moves with the swept value": the least-squares slope over every run (per doubling, or per 0.1 of p).
    The margin is 2% of the mean of the values (of `scale_of(group)`'s values when given: the generalization gap's
    margin is 2% of the validation loss), or 1 point of accuracy."""
    x, y = [], []
    for value, g in groups.items():
        vals = m.values(g, metric, at) if x_of is None else x_of(value, g)
        x += [np.log2(value) if log2 else value * 10] * len(vals)
        y += list(vals)
    x, y = np.array(x, dtype=float), np.array(y, dtype=float)
    keep = ~np.isnan(y)
    mean = float(np.nanmean(y if scale_of is None else np.concatenate([scale_of(g) for g in groups.values()])))
    acc = m.is_accuracy(metric)
    per = f"per doubling of {param}" if log2 else f"per +0.1 of {param}"
    unit = f"{label or m.unit(metric)} {per}"
    measured = ", ".join(f"{param}={v}: {m.mean_text(m.values(g, metric, at) if x_of is None else x_of(v, g))}"
                         for v, g in groups.items())
    sizes = sorted({len(g.runs) for g in groups.values()})
    return Row(figure, claim, family, stats.slope(x[keep], y[keep]), claimed,
               MARGIN["acc"] if acc else MARGIN["loss"] * mean, mean, unit, measured,
               f"{len(groups)} values × {'/'.join(map(str, sizes))} seeds", partial=bool((~keep).any()),
               line=(x[keep], y[keep]))


def slow(group, reference, metric, figure, claim, family, per_seed: bool) -> Row:
    """"group is slow": epochs until each run comes within the margin of the reference's final value (its own
    seed's reference run when `per_seed`), against the reference runs' own."""
    a, b, target = m.epochs_to_reference(group, reference, metric, per_seed)
    measured = (f"epochs to come {target}: {m.epochs_text(a, group)} against {m.epochs_text(b, reference)}")
    return two_groups(figure, claim, family, a, b, +1, MARGIN["epochs"], float(np.mean(b)), "epochs", measured)


def overfitting(groups, p_used, p_none, figure, claim, where: str) -> Row:
    """"p = p_used prevents overfitting", asked only where p = p_none overfits (the premise, by sign flips)."""
    a, b = m.overfit_measure(groups[p_used]), m.overfit_measure(groups[p_none])
    premise = stats.one_sample(b - OVERFIT, level=0.90)  # each end a one-sided 95% bound
    measured = (f"{where}: overfitting measure (the larger of the generalization gap and the validation loss's "
                f"rise above its minimum, as fractions of the final validation loss) p={p_used} "
                f"{m.mean_text(a, pct=True)}, p={p_none} {m.mean_text(b, pct=True)}; premise (p={p_none} above "
                f"{OVERFIT:.0%}): mean {100 * premise.estimate:+.2f} points, one-sided 95% bounds {100 * premise.low:+.2f} "
                f"and {100 * premise.high:+.2f}")
    row = two_groups(figure, claim, "statement", a, b, -1, MARGIN["fraction"], 1.0,  # a fraction: the plot shows points
               "of the validation loss (fraction)", measured)
    if premise.high < 0:
        row.premise = f"p={p_none} does not overfit ({where}): nothing to prevent"
    elif not premise.low > 0:
        row.unsettled = True
        row.measured += "; the premise itself is not settled at these seeds"
    return row


def confusion_share(arms, names, labels, classes, family) -> Row:
    """"the largest confusions are among the four upper-body classes": each run's share of errors in those 12
    ordered pairs, against 12/90 (errors spread evenly), by sign flips."""
    runs = [r for name in names for r in arms[name].runs]
    share, even, dead = m.upper_body_share(runs, labels, classes)
    t = stats.one_sample(share - even)
    measured = (f"share of errors among T-shirt/top, Pullover, Coat, Shirt {m.mean_text(share, pct=True)} "
                f"(even spread {even:.1%}), runs of {' and '.join(names)}; {dead}")
    return Row("9", "The largest confusions are among shirt, T-shirt/top, pullover and coat", family, t, +1,
               MARGIN["share"], 1.0, "share of errors above an even spread", measured, f"{len(runs)} runs")


def judge(rows: list[Row], alpha: float = stats.ALPHA) -> list[Row]:
    """Holm within each family, then each row's verdict (and its best-epoch twin's, by the same adjusted level)."""
    for family in FAMILIES:
        members = [row for row in rows if row.family == family and row.premise is None]
        adjusted = stats.holm([row.tested.p for row in members])
        order = np.argsort([row.tested.p for row in members], kind="stable")
        for rank, i in enumerate(order):
            members[i].alpha_row = alpha / (len(members) - rank)
        for row, p in zip(members, adjusted):
            row.p_holm = p
    for row in rows:
        if row.premise is not None:
            row.verdict = stats.PREMISE_ABSENT
            continue
        row.verdict = stats.verdict(row.test, row.claimed, row.margin, row.p_holm, alpha, row.bar)
        if row.partial and row.verdict == stats.SUPPORTED:
            row.verdict = stats.MIXED
        if row.unsettled:
            row.verdict = stats.INCONCLUSIVE
        if row.at_best is not None:
            twin = row.at_best
            twin.verdict = stats.verdict(twin.test, twin.claimed, twin.margin,
                                         min(1.0, twin.tested.p * row.p_holm / row.tested.p) if row.tested.p else
                                         row.p_holm, alpha, twin.bar)
        if row.verdict in (stats.INCONCLUSIVE, stats.MIXED) and row.pair is not None:
            row.needed = stats.seeds_needed(*row.pair, row.alpha_row)
        elif row.verdict in (stats.INCONCLUSIVE, stats.MIXED) and row.line is not None:
            row.needed = stats.seeds_needed_slope(*row.line, row.alpha_row)
    return rows
