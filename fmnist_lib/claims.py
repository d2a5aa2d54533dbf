"""The study's conclusions, each tested for what it means, as one family of tests.

Input: {experiment: {label: Group}} as results.report_groups() returns it (sweeps by name, "arms"), and for
figure 9 the test labels. Each of the study's conclusions becomes one or more rows, and each row is one of:

- a comparison of two settings ("A gives lower validation loss than B"): Welch's t-test over seeds;
- a trend ("loss falls as n grows"): least-squares slope of the metric on log2(value) (or on the value, for
  dropout) over every seed and value, with its 95% confidence interval; the residuals are the noise estimate;
- a rule with a stated threshold, for claims that are not "A beats B": "fails to train" (diverged, or a final
  validation loss above FAIL_FACTOR x the reference's, or a fall over the epochs below STALL x the reference's,
  judged per seed); "slow" (epochs until the validation curve first comes within SLOW_MARGIN of the reference's
  final value); "diminishing returns" (the gain from n=64 to 256 against the gain from 16 to 64, bootstrap interval
  over seeds); "without sacrificing capacity" (the validation-loss cost of p=0.2 over p=0, Welch interval).

The p-values of the comparisons and trends form one family: Holm's adjustment is reported beside the raw p, and the
verdicts use the adjusted one. Verdicts: supported (the data show the claimed direction at adjusted p < ALPHA, or
the rule holds in every seed / the interval clears the threshold), contradicted (the opposite, equally firmly),
inconclusive (the data cannot tell at these seeds), mixed (the rule holds in some seeds and not in others), and
"direction only (1 seed)" where there is no noise estimate (one seed, two settings): never "supported" then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .metrics import bootstrap_ci, confusion, holm, trend, welch

ALPHA = 0.05
FAIL_FACTOR = 2.0  # "fails": a final validation loss above this multiple of the reference's
STALL = 0.1  # "fails": a fall of validation loss (epoch 1 to the last) below this fraction of the reference's fall
SLOW_MARGIN = {"loss": 0.10, "acc": 0.01}  # "slow": within 10% of the reference's final loss / 1 point of its accuracy
DIMINISHING = 0.5  # "n >= 64 is enough": gain from 64 to 256 below this fraction of the gain from 16 to 64
CAPACITY_COST = 0.05  # "without sacrificing capacity": validation loss of p=0.2 at most 5% above p=0's
# "prevents overfitting" presumes that p=0 overfits: per seed, its generalization gap above this fraction of its
# validation loss, or its validation loss ending this fraction above its minimum
OVERFIT = {"gap": 0.05, "rise": 0.02}
CONFUSED = ("T-shirt/top", "Pullover", "Coat", "Shirt")  # the study's "shirt, T-shirt, pullover and coat"
VERDICTS = ("supported", "contradicted", "inconclusive", "mixed", "direction only (1 seed)")
ONE_SEED = VERDICTS[-1]


@dataclass
class Row:
    figure: str
    claim: str
    measured: str
    test: str
    seeds: int
    p: float = np.nan  # raw p-value of a comparison or trend; NaN for a rule
    direction: bool | None = None  # the measured direction is the claimed one
    partial: bool = False  # some runs (diverged) were left out: a "supported" becomes "mixed"
    verdict: str = ""  # set now for rules, after Holm's adjustment for tests
    p_holm: float = field(default=np.nan)


def _f(x: float) -> str:
    return "diverged" if np.isnan(x) else f"{x:.4g}"


def _mean(a) -> float:
    a = np.asarray(a, dtype=float)
    return np.nan if len(a) == 0 or np.isnan(a).any() else float(a.mean())


def _seeds(*groups) -> int:
    return min(len(g.runs) for g in groups)


def _final(run, metric: str) -> float:
    h = run.history.get(metric) or []
    return np.nan if run.diverged or not h else float(h[-1])


# --- comparisons of two settings -------------------------------------------------------------------------------

def compare(a, b, name_a: str, name_b: str, metric: str, higher_is_better: bool, figure: str, claim: str,
            label: str) -> Row:
    """Row "a is better than b on metric": Welch's t-test over seeds; a diverged side is the worse one."""
    fa, fb = a.final(metric), b.final(metric)
    ma, mb = _mean(fa), _mean(fb)
    seeds = _seeds(a, b)
    measured = f"{name_a} {_f(ma)} vs {name_b} {_f(mb)} ({label})"
    test = "Welch's t-test"
    if np.isnan(ma) or np.isnan(mb):
        ok = np.isnan(mb) and not np.isnan(ma)
        verdict = (ONE_SEED if seeds < 2 else "inconclusive" if np.isnan(ma) and np.isnan(mb) else
                   "supported" if ok else "contradicted")
        return Row(figure, claim, measured + "; a side diverged", "rule: a diverged run is the worse", seeds,
                   direction=ok, verdict=verdict)
    direction = ma > mb if higher_is_better else ma < mb
    return Row(figure, claim, measured, test, seeds, p=welch(fa, fb), direction=direction)


# --- trends ------------------------------------------------------------------------------------------------------

def trend_row(groups: dict, metric: str, log2: bool, claimed_sign: int, figure: str, claim: str, label: str,
              param: str) -> Row:
    """Row "metric moves with the swept value in the claimed direction": the slope over every seed and value."""
    x, y = [], []
    for value, g in groups.items():
        for r in g.runs:
            x.append(np.log2(value) if log2 else value)
            y.append(_final(r, metric))
    t = trend(x, y)
    left_out = int(np.isnan(y).sum())
    unit = f"per doubling of {param}" if log2 else f"per unit of {param}"
    measured = (f"slope {t['slope']:+.3g} {label} {unit} (95% CI {t['low']:+.3g} to {t['high']:+.3g}); "
                + ", ".join(f"{param}={v}: {_f(_mean(g.final(metric)))}" for v, g in groups.items()))
    seeds = _seeds(*groups.values())
    if left_out:
        measured += f"; {left_out} diverged run(s) left out of the slope"
    return Row(figure, claim, measured, f"slope on {'log2 ' if log2 else ''}{param} ({t['n']} runs)", seeds, p=t["p"],
               direction=bool(np.sign(t["slope"]) == claimed_sign) if not np.isnan(t["slope"]) else None,
               partial=bool(left_out))


# --- rules -------------------------------------------------------------------------------------------------------

def _per_seed(outcomes: list[bool], seeds: int) -> tuple[str, str]:
    k = sum(outcomes)
    if seeds < 2:
        return ONE_SEED, f"holds in {k} of 1 seed"
    verdict = "supported" if k == len(outcomes) else "contradicted" if k == 0 else "mixed"
    return verdict, f"holds in {k} of {len(outcomes)} seeds"


def fails(group, reference, name: str, ref_name: str, figure: str, claim: str) -> Row:
    """Row "group fails to train": per seed, diverged, or final val loss > FAIL_FACTOR x the reference's mean,
    or its val loss fell (epoch 1 to last) by less than STALL x the reference's mean fall."""
    ref_final = _mean(reference.final("val_loss"))
    ref_fall = np.mean([r.history["val_loss"][0] - r.history["val_loss"][-1] for r in reference.runs
                        if r.history.get("val_loss")] or [np.nan])
    outcomes, notes = [], []
    for r in group.runs:
        h = r.history["val_loss"]
        if r.diverged or not h or not np.isfinite(h[-1]):
            outcomes.append(True)
            notes.append("diverged")
            continue
        fall = h[0] - h[-1]
        far, stalled = h[-1] > FAIL_FACTOR * ref_final, fall < STALL * ref_fall
        outcomes.append(far or stalled)
        notes.append(f"{h[-1]:.4g}" + (" (far above)" if far else "") + (" (stalled)" if stalled else ""))
    verdict, held = _per_seed(outcomes, _seeds(group))
    measured = (f"{name}: final validation loss per seed {', '.join(notes)}; {ref_name} {_f(ref_final)}; {held}")
    test = f"rule per seed: diverged, final > {FAIL_FACTOR:g}× reference, or fall < {STALL:g}× reference's"
    return Row(figure, claim, measured, test, _seeds(group), verdict=verdict, direction=all(outcomes))


def epochs_to_reach(run, metric: str, target: float, higher_is_better: bool) -> int:
    """First epoch (1-based) at which the metric reaches target; len(history) + 1 when it never does."""
    h = run.history.get(metric) or []
    for i, v in enumerate(h):
        if np.isfinite(v) and (v >= target if higher_is_better else v <= target):
            return i + 1
    return run.config.epochs + 1


def slow(group, reference, metric: str, higher_is_better: bool, name: str, ref_name: str, figure: str,
         claim: str, label: str) -> Row:
    """Row "group is slow": epochs until its curve first comes within SLOW_MARGIN of the reference's final value,
    against the reference's own (never reaching counts as epochs + 1). Rule: supported if every seed of the group
    needs more epochs than every seed of the reference, contradicted if none needs more than any, mixed otherwise."""
    ref = _mean(reference.final(metric))
    margin = SLOW_MARGIN["acc" if higher_is_better else "loss"]
    target = ref - margin if higher_is_better else ref * (1 + margin)
    a = [epochs_to_reach(r, metric, target, higher_is_better) for r in group.runs]
    b = [epochs_to_reach(r, metric, target, higher_is_better) for r in reference.runs]
    epochs = group.runs[0].config.epochs

    def show(counts):
        return ", ".join(str(c) if c <= epochs else f">{epochs}" for c in counts)

    seeds = _seeds(group, reference)
    verdict = (ONE_SEED if seeds < 2 else "supported" if min(a) > max(b) else
               "contradicted" if max(a) <= min(b) else "mixed")
    measured = (f"epochs to reach {label} {target:.4g} ({'1 point below' if higher_is_better else 'within 10% of'} "
                f"{ref_name}'s final {ref:.4g}): {name} {show(a)}; {ref_name} {show(b)}")
    return Row(figure, claim, measured, "rule: every seed slower than every reference seed (not reached: "
               "epochs + 1)", seeds, verdict=verdict, direction=min(a) > max(b))


def diminishing(groups: dict, metric: str, figure: str, claim: str, small=16, mid=64, large=256) -> Row:
    """Row "n >= mid is enough": gain(mid -> large) / gain(small -> mid) below DIMINISHING, bootstrap interval."""
    s, m, l = (groups[v].final(metric) for v in (small, mid, large))
    low_gain, high_gain = _mean(s) - _mean(m), _mean(m) - _mean(l)
    ratio = high_gain / low_gain if low_gain > 0 else np.inf
    # the interval of the linear form gain(mid->large) - DIMINISHING * gain(small->mid): < 0 iff the ratio is below
    # DIMINISHING with a positive first gain, and it has no division by a gain near 0
    lo, hi = bootstrap_ci([s, m, l], lambda a, b, c: (b - c) - DIMINISHING * (a - b))
    seeds = _seeds(*(groups[v] for v in (small, mid, large)))
    measured = (f"gain {small}→{mid}: {low_gain:.4g}; gain {mid}→{large}: {high_gain:.4g}; ratio {ratio:.2f}"
                + ("" if np.isnan(lo) else f"; gain {mid}→{large} − {DIMINISHING:g} × gain {small}→{mid}: 95% "
                   f"bootstrap CI {lo:.3g} to {hi:.3g}"))
    if seeds < 2:
        verdict = ONE_SEED
    elif hi < 0:
        verdict = "supported"
    elif lo > 0:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return Row(figure, claim, measured, f"rule: ratio < {DIMINISHING:g} (bootstrap interval of the difference)", seeds,
               verdict=verdict, direction=ratio < DIMINISHING)


def capacity_cost(groups: dict, p_used=0.2, p_none=0.0, figure="5", claim="") -> Row:
    """Row "p=0.2 does not sacrifice capacity": its validation loss at most CAPACITY_COST above p=0's."""
    a, b = groups[p_used].final("val_loss"), groups[p_none].final("val_loss")
    ref = _mean(b)
    cost = _mean(a) / ref - 1
    lo, hi = bootstrap_ci([a, b], lambda x, y: x / y - 1)
    seeds = _seeds(groups[p_used], groups[p_none])
    measured = (f"validation loss p={p_used}: {_f(_mean(a))}, p={p_none}: {_f(ref)}; cost {100 * cost:+.1f}%"
                + ("" if np.isnan(lo) else f" (95% CI {100 * lo:+.1f}% to {100 * hi:+.1f}%)"))
    verdict = (ONE_SEED if seeds < 2 else "supported" if hi <= CAPACITY_COST else
               "contradicted" if lo > CAPACITY_COST else "inconclusive")
    return Row(figure, claim, measured, f"rule: cost ≤ {100 * CAPACITY_COST:g}% (bootstrap interval)", seeds, verdict=verdict,
               direction=cost <= CAPACITY_COST)


def generalization_gap(run) -> float:
    """Final eval-mode validation loss minus final eval-mode training loss (on a training subset)."""
    return _final(run, "val_loss") - _final(run, "train_eval_loss")


def overfits(run) -> bool:
    """The run overfits by the OVERFIT rule: its eval-mode generalization gap, or the rise of its validation loss
    from its minimum to the end, is a material fraction of its validation loss."""
    h = run.history.get("val_loss") or []
    if run.diverged or not h:
        return False
    return (generalization_gap(run) > OVERFIT["gap"] * h[-1]) or (h[-1] > (1 + OVERFIT["rise"]) * min(h))


def gap_row(groups: dict, p_used=0.2, p_none=0.0, figure="5", claim="") -> Row:
    """Row "p=0.2 prevents overfitting". There must be overfitting to prevent: a seed of p=0 overfits by the OVERFIT
    rule. If none does, the claim is contradicted whatever the gaps; else p=0.2's generalization gap must be smaller
    than p=0's (Welch over seeds), and at most "mixed" when only some seeds of p=0 overfit."""
    a = [generalization_gap(r) for r in groups[p_used].runs]
    b = [generalization_gap(r) for r in groups[p_none].runs]
    none_runs = [r for r in groups[p_none].runs if r.history.get("val_loss") and not r.diverged]
    rel_gap = np.mean([generalization_gap(r) / r.history["val_loss"][-1] for r in none_runs] or [np.nan])
    rise = np.mean([r.history["val_loss"][-1] / min(r.history["val_loss"]) - 1 for r in none_runs] or [np.nan])
    k = sum(overfits(r) for r in groups[p_none].runs)
    seeds = _seeds(groups[p_used], groups[p_none])
    measured = (f"gap (validation − training loss, both eval mode) p={p_used}: {_f(_mean(a))}, p={p_none}: "
                f"{_f(_mean(b))}; p={p_none}'s gap is {100 * rel_gap:.2g}% of its validation loss, which ends "
                f"{100 * rise:.2g}% above its minimum: p={p_none} overfits in {k} of {len(groups[p_none].runs)} seeds")
    rule = (f"p={p_none} must overfit (gap > {100 * OVERFIT['gap']:g}% of its validation loss, or a rise > "
            f"{100 * OVERFIT['rise']:g}% above its minimum)")
    if k == 0:
        return Row(figure, claim, measured + ": nothing to prevent", f"rule: {rule}", seeds,
                   direction=False, verdict=ONE_SEED if seeds < 2 else "contradicted")
    return Row(figure, claim, measured, f"{rule}; then Welch's t-test on the gap", seeds, p=welch(a, b),
               direction=_mean(a) < _mean(b), partial=k < len(groups[p_none].runs))


# --- figure 9 ------------------------------------------------------------------------------------------------------

def off_diagonal(run, labels) -> float:
    """Mean off-diagonal mass of the row-normalized test confusion matrix (1 - balanced accuracy)."""
    return float(1 - np.diag(confusion(labels, np.asarray(run.predictions))).mean())


def confusion_rows(arms: dict, labels, classes, a="scratch", b="pretrained-frozen") -> list[Row]:
    ga, gb = arms[a], arms[b]
    oa, ob = [off_diagonal(r, labels) for r in ga.runs], [off_diagonal(r, labels) for r in gb.runs]
    rows = [Row("9", "The scratch classifier's confusion matrix shows less confusion than the pretrained one's",
                f"off-diagonal mass (mean of 1 − recall over classes) {a} {_mean(oa):.4f} vs {b} {_mean(ob):.4f}",
                "Welch's t-test", _seeds(ga, gb), p=welch(oa, ob),
                direction=_mean(oa) < _mean(ob))]
    def top3(counts):
        off = counts / counts.sum(1, keepdims=True)
        np.fill_diagonal(off, -1)
        return [(*np.unravel_index(flat, off.shape), off.flat[flat]) for flat in np.argsort(off, axis=None)[::-1][:3]]

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
    verdict, held = _per_seed(outcomes, _seeds(ga, gb))
    rows.append(Row("9", "The largest confusions are among shirt, T-shirt/top, pullover and coat",
                    f"top 3 confused pairs, seeds pooled ({a}; {b}): " + ", ".join(tops) + f"; per seed: {held}",
                    "rule per seed: the top 3 pairs of both matrices within the 4 classes", _seeds(ga, gb),
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
            runner = min(others, key=lambda v: _mean(s[v].final("val_loss")))
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


def judge(rows: list[Row], alpha: float = ALPHA) -> list[Row]:
    """Holm-adjust the family of p-values, then give every test row its verdict from the adjusted p."""
    adjusted = holm([row.p for row in rows])
    for row, p in zip(rows, adjusted):
        row.p_holm = p
        if row.verdict:
            continue
        if np.isnan(row.p):
            row.verdict = ONE_SEED if row.seeds < 2 else "inconclusive"
        elif p < alpha:
            row.verdict = ("mixed" if row.partial else "supported") if row.direction else "contradicted"
        else:
            row.verdict = "inconclusive"
    return rows


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
