"""Generic tests and verdicts: each function turns groups of runs (results.Group) into one Row of a family of tests.

Each row is one of:

- a comparison of two settings ("A gives lower validation loss than B"): Welch's t-test over seeds;
- a trend ("loss falls as n grows"): least-squares slope of the metric on log2(value) (or on the value, for
  dropout) over every seed and value, with its 95% confidence interval; the residuals are the noise estimate;
- a rule with a stated threshold, for claims that are not "A beats B": "fails to train" (diverged, or a final
  validation loss above FAIL_FACTOR x the reference's, or a fall over the epochs below STALL x the reference's,
  judged per seed); "slow" (epochs until the validation curve first comes within SLOW_MARGIN of the reference's
  final value); "diminishing returns" (the gain from n=64 to 256 against the gain from 16 to 64, bootstrap interval
  over seeds); "without sacrificing capacity" (the validation-loss cost of p=0.2 over p=0, bootstrap interval);
  "prevents overfitting" (there must be overfitting to prevent, by the OVERFIT rule).

The p-values of the comparisons and trends form one family (`judge`): Holm's adjustment is reported beside the raw p,
and the verdicts use the adjusted one. Verdicts: supported (the data show the claimed direction at adjusted p < ALPHA,
or the rule holds in every seed / the interval clears the threshold), contradicted (the opposite, equally firmly),
inconclusive (the data cannot tell at these seeds), mixed (the rule holds in some seeds and not in others), and
"direction only (1 seed)" where there is no noise estimate (one seed, two settings): never "supported" then. The
study's conclusions, each stated as such rows, are fmnist_lib.claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics import bootstrap_ci, holm, trend, welch
from .results import final_value

ALPHA = 0.05
FAIL_FACTOR = 2.0  # "fails": a final validation loss above this multiple of the reference's
STALL = 0.1  # "fails": a fall of validation loss (epoch 1 to the last) below this fraction of the reference's fall
SLOW_MARGIN = {"loss": 0.10, "acc": 0.01}  # "slow": within 10% of the reference's final loss / 1 point of its accuracy
DIMINISHING = 0.5  # "n >= 64 is enough": gain from 64 to 256 below this fraction of the gain from 16 to 64
CAPACITY_COST = 0.05  # "without sacrificing capacity": validation loss of p=0.2 at most 5% above p=0's
# "prevents overfitting" presumes that p=0 overfits: per seed, its generalization gap above this fraction of its
# validation loss, or its validation loss ending this fraction above its minimum
OVERFIT = {"gap": 0.05, "rise": 0.02}
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


def seed_mean(a) -> float:
    a = np.asarray(a, dtype=float)
    return np.nan if len(a) == 0 or np.isnan(a).any() else float(a.mean())


def seed_count(*groups) -> int:
    return min(len(g.runs) for g in groups)


# --- comparisons of two settings -------------------------------------------------------------------------------

def compare(a, b, name_a: str, name_b: str, metric: str, higher_is_better: bool, figure: str, claim: str,
            label: str) -> Row:
    """Row "a is better than b on metric": Welch's t-test over seeds; a diverged side is the worse one."""
    fa, fb = a.final(metric), b.final(metric)
    ma, mb = seed_mean(fa), seed_mean(fb)
    seeds = seed_count(a, b)
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
            y.append(final_value(r, metric))
    t = trend(x, y)
    left_out = int(np.isnan(y).sum())
    unit = f"per doubling of {param}" if log2 else f"per unit of {param}"
    measured = (f"slope {t['slope']:+.3g} {label} {unit} (95% CI {t['low']:+.3g} to {t['high']:+.3g}); "
                + ", ".join(f"{param}={v}: {_f(seed_mean(g.final(metric)))}" for v, g in groups.items()))
    seeds = seed_count(*groups.values())
    if left_out:
        measured += f"; {left_out} diverged run(s) left out of the slope"
    return Row(figure, claim, measured, f"slope on {'log2 ' if log2 else ''}{param} ({t['n']} runs)", seeds, p=t["p"],
               direction=bool(np.sign(t["slope"]) == claimed_sign) if not np.isnan(t["slope"]) else None,
               partial=bool(left_out))


# --- rules -------------------------------------------------------------------------------------------------------

def per_seed(outcomes: list[bool], seeds: int) -> tuple[str, str]:
    k = sum(outcomes)
    if seeds < 2:
        return ONE_SEED, f"holds in {k} of 1 seed"
    verdict = "supported" if k == len(outcomes) else "contradicted" if k == 0 else "mixed"
    return verdict, f"holds in {k} of {len(outcomes)} seeds"


def fails(group, reference, name: str, ref_name: str, figure: str, claim: str) -> Row:
    """Row "group fails to train": per seed, diverged, or final val loss > FAIL_FACTOR x the reference's mean,
    or its val loss fell (epoch 1 to last) by less than STALL x the reference's mean fall."""
    ref_final = seed_mean(reference.final("val_loss"))
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
    verdict, held = per_seed(outcomes, seed_count(group))
    measured = (f"{name}: final validation loss per seed {', '.join(notes)}; {ref_name} {_f(ref_final)}; {held}")
    test = f"rule per seed: diverged, final > {FAIL_FACTOR:g}× reference, or fall < {STALL:g}× reference's"
    return Row(figure, claim, measured, test, seed_count(group), verdict=verdict, direction=all(outcomes))


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
    ref = seed_mean(reference.final(metric))
    margin = SLOW_MARGIN["acc" if higher_is_better else "loss"]
    target = ref - margin if higher_is_better else ref * (1 + margin)
    a = [epochs_to_reach(r, metric, target, higher_is_better) for r in group.runs]
    b = [epochs_to_reach(r, metric, target, higher_is_better) for r in reference.runs]
    epochs = group.runs[0].config.epochs

    def show(counts):
        return ", ".join(str(c) if c <= epochs else f">{epochs}" for c in counts)

    seeds = seed_count(group, reference)
    verdict = (ONE_SEED if seeds < 2 else "supported" if min(a) > max(b) else
               "contradicted" if max(a) <= min(b) else "mixed")
    measured = (f"epochs to reach {label} {target:.4g} ({'1 point below' if higher_is_better else 'within 10% of'} "
                f"{ref_name}'s final {ref:.4g}): {name} {show(a)}; {ref_name} {show(b)}")
    return Row(figure, claim, measured, "rule: every seed slower than every reference seed (not reached: "
               "epochs + 1)", seeds, verdict=verdict, direction=min(a) > max(b))


def diminishing(groups: dict, metric: str, figure: str, claim: str, small=16, mid=64, large=256) -> Row:
    """Row "n >= mid is enough": gain(mid -> large) / gain(small -> mid) below DIMINISHING, bootstrap interval."""
    s, m, l = (groups[v].final(metric) for v in (small, mid, large))
    low_gain, high_gain = seed_mean(s) - seed_mean(m), seed_mean(m) - seed_mean(l)
    ratio = high_gain / low_gain if low_gain > 0 else np.inf
    # the interval of the linear form gain(mid->large) - DIMINISHING * gain(small->mid): < 0 iff the ratio is below
    # DIMINISHING with a positive first gain, and it has no division by a gain near 0
    lo, hi = bootstrap_ci([s, m, l], lambda a, b, c: (b - c) - DIMINISHING * (a - b))
    seeds = seed_count(*(groups[v] for v in (small, mid, large)))
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
    ref = seed_mean(b)
    cost = seed_mean(a) / ref - 1
    lo, hi = bootstrap_ci([a, b], lambda x, y: x / y - 1)
    seeds = seed_count(groups[p_used], groups[p_none])
    measured = (f"validation loss p={p_used}: {_f(seed_mean(a))}, p={p_none}: {_f(ref)}; cost {100 * cost:+.1f}%"
                + ("" if np.isnan(lo) else f" (95% CI {100 * lo:+.1f}% to {100 * hi:+.1f}%)"))
    verdict = (ONE_SEED if seeds < 2 else "supported" if hi <= CAPACITY_COST else
               "contradicted" if lo > CAPACITY_COST else "inconclusive")
    return Row(figure, claim, measured, f"rule: cost ≤ {100 * CAPACITY_COST:g}% (bootstrap interval)", seeds, verdict=verdict,
               direction=cost <= CAPACITY_COST)


def generalization_gap(run) -> float:
    """Final eval-mode validation loss minus final eval-mode training loss (on a training subset)."""
    return final_value(run, "val_loss") - final_value(run, "train_eval_loss")


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
    seeds = seed_count(groups[p_used], groups[p_none])
    measured = (f"gap (validation − training loss, both eval mode) p={p_used}: {_f(seed_mean(a))}, p={p_none}: "
                f"{_f(seed_mean(b))}; p={p_none}'s gap is {100 * rel_gap:.2g}% of its validation loss, which ends "
                f"{100 * rise:.2g}% above its minimum: p={p_none} overfits in {k} of {len(groups[p_none].runs)} seeds")
    rule = (f"p={p_none} must overfit (gap > {100 * OVERFIT['gap']:g}% of its validation loss, or a rise > "
            f"{100 * OVERFIT['rise']:g}% above its minimum)")
    if k == 0:
        return Row(figure, claim, measured + ": nothing to prevent", f"rule: {rule}", seeds,
                   direction=False, verdict=ONE_SEED if seeds < 2 else "contradicted")
    return Row(figure, claim, measured, f"{rule}; then Welch's t-test on the gap", seeds, p=welch(a, b),
               direction=seed_mean(a) < seed_mean(b), partial=k < len(groups[p_none].runs))


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
