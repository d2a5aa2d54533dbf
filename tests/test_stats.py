"""The verdicts' statistics on made-up data with a known answer: exact p-values against scipy's enumeration, the
smallest p, Holm, the verdict words, and the intervals' coverage by simulation."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from fmnist_lib import stats


def mean_diff(x, y, axis=-1):
    return x.mean(axis) - y.mean(axis)


def ls_slope(u, v, axis=-1):
    uc = u - u.mean(axis, keepdims=True)
    return (uc * (v - v.mean(axis, keepdims=True))).sum(axis) / (uc * uc).sum(axis)


@pytest.mark.parametrize("na, nb", [(3, 3), (5, 5), (5, 10), (4, 7)])
def test_two_sample_p_is_the_exact_enumeration(na, nb):
    rng = np.random.default_rng(na * 100 + nb)
    a, b = rng.normal(0, 1, na), rng.normal(0.8, 2, nb)
    ours = stats.two_sample(a, b)
    ref = sps.permutation_test((a, b), mean_diff, permutation_type="independent", n_resamples=np.inf,
                               alternative="two-sided", vectorized=True)
    assert ours.exact and ours.p == pytest.approx(ref.pvalue, rel=1e-12)
    assert ours.estimate == pytest.approx(a.mean() - b.mean())
    assert ours.p_min == pytest.approx(2 / math.comb(na + nb, na))


def test_one_sample_and_slope_p_are_the_exact_enumeration():
    rng = np.random.default_rng(3)
    d = rng.normal(0.4, 1, 9)
    ref = sps.permutation_test((d,), lambda x, axis=-1: x.mean(axis), permutation_type="samples",
                               n_resamples=np.inf, vectorized=True)
    assert stats.one_sample(d).p == pytest.approx(ref.pvalue, rel=1e-12)
    x, y = np.array([1, 1, 2, 2, 3, 3, 4.0]), rng.normal(0, 1, 7) + 0.3 * np.arange(7)
    null = np.array([ls_slope(x, y[list(order)]) for order in itertools.permutations(range(len(y)))])
    observed = ls_slope(x, y)
    p = min(1, 2 * min(np.mean(null >= observed - 1e-12), np.mean(null <= observed + 1e-12)))
    ours = stats.slope(x, y)
    assert ours.exact and ours.p == pytest.approx(p, rel=1e-9)
    assert ours.estimate == pytest.approx(sps.linregress(x, y).slope)


def test_monte_carlo_beyond_the_exact_limit_is_repeatable():
    rng = np.random.default_rng(4)
    x, y = np.repeat(np.arange(5.0), 5), rng.normal(0, 1, 25)
    first, second = stats.slope(x, y), stats.slope(x, y)
    assert not first.exact and first == second and first.p_min == pytest.approx(2 / (stats.RESAMPLES + 1))


def test_bimodal_arms_that_separate_completely_are_told_apart():
    # the statement's head: scratch runs at 0.80 or 0.90 (a class never predicted, or not), frozen ones below
    scratch = [0.8027, 0.9012, 0.8991, 0.8034, 0.9040]
    frozen = [0.7772, 0.7003, 0.7651, 0.7102, 0.7700]
    t = stats.two_sample(scratch, frozen)
    assert t.p == pytest.approx(2 / 252) and t.low > 0  # Welch's t-test gives p 0.0014 to 0.13 on such samples


def test_three_against_three_cannot_bound_its_interval():
    t = stats.two_sample([1, 2, 3], [10, 11, 12])
    assert t.p == pytest.approx(0.1) and t.p_min == pytest.approx(0.1)
    assert (t.low, t.high) == (-math.inf, math.inf)


def test_five_against_ten_complete_separation_is_supported_under_the_family_correction():
    t = stats.two_sample([1.0, 1.1, 1.2, 1.3, 1.4], np.linspace(0, 0.5, 10))
    assert t.p == pytest.approx(2 / 3003)
    family = [t.p] + [0.5] * 29  # a family of 30 rows, the others null
    adjusted = stats.holm(family)
    assert adjusted[0] == pytest.approx(30 * 2 / 3003) and adjusted[0] < stats.ALPHA
    assert stats.verdict(t, +1, margin=0.02, p_adjusted=adjusted[0]) == stats.SUPPORTED
    assert stats.verdict(t, -1, margin=0.02, p_adjusted=adjusted[0]) == stats.CONTRADICTED


def test_an_effect_inside_its_margin_is_no_practical_difference():
    rng = np.random.default_rng(5)
    a, b = 1 + rng.normal(0, 0.001, 10), 1 + rng.normal(0, 0.001, 10)
    t = stats.two_sample(a, b)
    assert -0.01 < t.low < t.high < 0.01
    assert stats.verdict(t, +1, margin=0.01, p_adjusted=1.0) == stats.NO_DIFFERENCE
    # "at most the margin worse": p_adjusted is the test against the margin's, which must pass the correction
    assert stats.verdict(t, 0, margin=0.01, p_adjusted=0.001) == stats.SUPPORTED
    assert stats.verdict(t, 0, margin=0.01, p_adjusted=0.2) == stats.INCONCLUSIVE
    wide = stats.two_sample(a * 50, b)
    assert stats.verdict(wide, 0, margin=0.01, p_adjusted=0.001) == stats.CONTRADICTED
    assert stats.verdict(wide, 0, margin=0.01, p_adjusted=0.2) == stats.INCONCLUSIVE


def test_a_claimed_size_must_be_cleared_by_the_interval():
    ref = np.linspace(0.039, 0.041, 10)
    failing = np.array([0.12, 0.125, 0.13, 0.127, 0.126])  # three times the reference
    worse = np.array([0.050, 0.052, 0.051, 0.049, 0.050])  # worse, but far from twice
    for group, expected in ((failing, stats.SUPPORTED), (worse, stats.CONTRADICTED)):
        t = stats.two_sample(group, ref)
        assert stats.verdict(t, +1, margin=0.0008, p_adjusted=t.p, bar=ref.mean()) == expected


def test_one_seed_gives_direction_only():
    t = stats.two_sample([1.0], [2.0])
    assert stats.verdict(t, -1, margin=0.1, p_adjusted=float("nan")) == stats.ONE_SEED


def test_holm_matches_a_hand_computation():
    assert stats.holm([0.01, 0.04, np.nan, 0.03]).tolist()[:2] == pytest.approx([0.03, 0.06])
    assert np.isnan(stats.holm([0.01, 0.04, np.nan, 0.03])[2])


def test_seeds_needed_grows_as_the_effect_shrinks_and_reaches_the_exact_floor():
    rng = np.random.default_rng(6)
    base = rng.normal(0, 1, 10)
    big, small = stats.seeds_needed(base + 3, base, 0.002), stats.seeds_needed(base + 0.5, base, 0.002)
    assert big < small
    assert 2 / math.comb(2 * big, big) < 0.002  # a clear effect still needs enough seeds to reach the level


def _with_fit(x, slope_, sd, rng):
    """y on x whose least-squares slope is `slope_` and residual spread `sd`, exactly."""
    xc, e = x - x.mean(), rng.normal(size=len(x))
    e -= e.mean() + (xc @ e) / (xc @ xc) * xc
    return slope_ * x + e * sd / np.sqrt(e @ e / (len(x) - 2))


def test_seeds_needed_give_the_power_they_promise_at_few_seeds_by_simulation():
    """The seeds a row is said to need are the fewest at which made-up experiments with the observed effect and spread
    reach the level (alpha 0.002, as Holm asks early) in 80% of trials (give or take 0.03 of simulation noise),
    where the normal approximation's count falls far short: at few seeds the t distribution's tails are heavier."""
    rng, alpha, trials = np.random.default_rng(11), 0.002, 2000
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(0.8)
    values = np.arange(4.0, 9.0)  # a 5-value sweep, log2 of n from 16 to 256
    slope_ = 0.999 * z / np.sqrt(3 * np.sum((values - values.mean()) ** 2))  # the normal approximation says 3
    k = stats.seeds_needed_slope(np.repeat(values, 3), _with_fit(np.repeat(values, 3), slope_, 1.0, rng), alpha)

    def slope_power(k):
        xs = np.repeat(values, k)
        return np.mean([sps.linregress(xs, slope_ * xs + rng.normal(0, 1, len(xs))).pvalue < alpha
                        for _ in range(trials)])

    assert k > 3 and slope_power(3) < 0.7 and slope_power(k - 1) < 0.83 and slope_power(k) > 0.77
    diff = 0.999 * z * np.sqrt(2 / 6)  # two groups: the normal approximation says 6 seeds each
    base = rng.normal(0, 1, 6)
    base = (base - base.mean()) / base.std(ddof=1)
    n = stats.seeds_needed(base + diff, base, alpha)

    def two_group_power(n):
        return np.mean([sps.ttest_ind(rng.normal(diff, 1, n), rng.normal(0, 1, n)).pvalue < alpha
                        for _ in range(trials)])

    assert n > 6 and two_group_power(6) < 0.75 and two_group_power(n - 1) < 0.83 and two_group_power(n) > 0.77
    flat = np.repeat(values, 3)
    assert stats.seeds_needed_slope(flat, flat * 0 + 1, alpha) is None  # no slope, nothing to detect
    assert stats.seeds_needed_slope(flat, _with_fit(flat, 4 * slope_, 1.0, rng), alpha) < k


@pytest.mark.parametrize("na, nb, shape", [(5, 5, "normal"), (5, 10, "normal"), (5, 5, "bimodal"),
                                           (5, 10, "bimodal")])
def test_interval_coverage_by_simulation(na, nb, shape):
    """The inverted test's 95% interval covers the true shift in about 95% of made-up experiments (at least 92% of
    300, allowing for simulation noise); percentile bootstrap intervals cover 79-87% at these sizes."""
    rng = np.random.default_rng(na * 10 + nb + len(shape))
    shift, covered, trials = 0.7, 0, 300
    for _ in range(trials):
        if shape == "normal":
            a, b = rng.normal(shift, 1, na), rng.normal(0, 1, nb)
        else:  # two clusters, as the statement's head gives (a class dead or alive)
            draw = lambda n: np.where(rng.random(n) < 0.5, 0.80, 0.90) + rng.normal(0, 0.004, n)  # noqa: E731
            a, b = draw(na) + shift / 10, draw(nb)
        t = stats.two_sample(a, b)
        covered += t.low <= (shift if shape == "normal" else shift / 10) <= t.high
    assert covered / trials >= 0.92


def test_a_no_worse_row_is_tested_against_its_margin_inside_the_correction():
    """"a no worse than b": the p Holm adjusts is that of the test at the margin, not at 0."""
    from fmnist_lib import verdicts

    b = np.linspace(0.0395, 0.0405, 10)
    worse = b[:5] + 0.004  # 10% worse: beyond the 2% margin
    row = verdicts.two_groups("5", "no worse", "statement", worse, b, 0, 0.0008, b.mean(), "loss", "")
    zero = stats.two_sample(worse, b)
    assert row.test == zero and row.tested.p == stats.two_sample(worse - 0.0008, b).p
    assert row.tested.method.endswith("against the margin")
    judged, = verdicts.judge([row])
    assert judged.p_holm == row.tested.p < 0.05 and judged.verdict == stats.CONTRADICTED
    within = b[:5] + 0.0001  # well within the margin: 5 vs 10 seeds show it
    row = verdicts.two_groups("5", "no worse", "statement", within, b, 0, 0.0008, b.mean(), "loss", "")
    judged, = verdicts.judge([row])
    assert judged.verdict == stats.SUPPORTED and judged.p_holm < 0.05
    # among 20 rows of the family, Holm asks more of it: the same row is then undecided
    many = [verdicts.two_groups("5", f"other {i}", "statement", b[:5], b, -1, 0.0008, b.mean(), "loss", "")
            for i in range(20)]
    row = verdicts.two_groups("5", "no worse", "statement", b[:5] + 0.0006, b, 0, 0.0008, b.mean(), "loss", "")
    judge_all = verdicts.judge([row, *many])
    assert judge_all[0].p_holm > judge_all[0].tested.p and judge_all[0].verdict == stats.INCONCLUSIVE


def test_a_claimed_size_is_tested_at_that_size_inside_the_correction():
    """"fails to train" (at least twice the reference's loss): Holm adjusts the test at the bar, not at 0."""
    from fmnist_lib import verdicts

    ref = np.linspace(0.039, 0.041, 10)
    worse = np.array([0.050, 0.052, 0.051, 0.049, 0.050])  # worse, far from twice
    row = verdicts.two_groups("6", "fails", "statement", worse, ref, +1, 0.0008, ref.mean(), "loss", "",
                              bar=ref.mean())
    assert row.tested.p == stats.two_sample(worse - ref.mean(), ref).p
    assert row.tested.method.endswith("against the claimed size")
    judged, = verdicts.judge([row])
    assert judged.p_holm == row.tested.p < 0.05 and judged.verdict == stats.CONTRADICTED
    # the same row in a family of 30, where Holm asks p < 0.05 / 30 of it first: not decided
    many = [verdicts.two_groups("6", f"other {i}", "statement", ref[:5], ref, -1, 0.0008, ref.mean(), "loss", "")
            for i in range(30)]
    row = verdicts.two_groups("6", "fails", "statement", worse[:3], ref[:3], +1, 0.0008, ref.mean(), "loss", "",
                              bar=ref.mean())
    first = verdicts.judge([row, *many])[0]
    assert first.tested.p < 0.2 and first.p_holm >= 0.05 and first.verdict == stats.INCONCLUSIVE
