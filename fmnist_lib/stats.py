"""The statistics of the verdicts: permutation tests, the confidence intervals got by inverting them, the smallest p
each can reach, Holm's correction, the seeds a row would need, and the verdict words. docs/analysis.md is the plan.

Every test here is a permutation test whose statistic, after shifting the data by a candidate effect d, is linear in
d: under relabeling r it is A_r - d * B_r, and the observed value (r the identity, B = 1) is estimate - d. So one
set of relabelings gives the p-value (d = 0) and, by finding where p(d) crosses alpha, the interval of every d the
test does not reject: the inverted test. Its level holds whatever the samples' shape (bimodal ones included) under
the shift model, and it is bounded only when the test can reach p < alpha at all.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps

ALPHA = 0.05  # the family-wise error rate, per family (Holm)
LEVEL = 0.95  # the level of every interval
EXACT_LIMIT = 200_000  # relabelings enumerated exactly up to this many (10 vs 10 seeds: 184,756)
RESAMPLES = 20_000  # Monte-Carlo relabelings beyond that, from a fixed seed: the same data give the same p
POWER = 0.8  # the power a row's "seeds needed" aims at
SEEDS_LIMIT = 1000  # the most seeds a row's "seeds needed" counts to: it says the limit where even that falls short

SUPPORTED, CONTRADICTED, NO_DIFFERENCE = "supported", "contradicted", "no practical difference"
INCONCLUSIVE, MIXED, PREMISE_ABSENT, ONE_SEED = "inconclusive", "mixed", "premise absent", "direction only (1 seed)"
VERDICTS = (SUPPORTED, CONTRADICTED, NO_DIFFERENCE, INCONCLUSIVE, MIXED, PREMISE_ABSENT, ONE_SEED)


@dataclass(frozen=True)
class Test:
    """One permutation test: the effect, its inverted-test interval, the two-sided p and the smallest p possible."""

    method: str
    estimate: float  # difference in means (a - b), slope, or mean (one sample)
    low: float  # -inf / inf: the test cannot reject any effect at these sizes
    high: float
    p: float
    p_min: float
    exact: bool
    sizes: tuple[int, ...]


def _nan_test(method: str, sizes) -> Test:
    nan = float("nan")
    return Test(method, nan, nan, nan, nan, nan, False, tuple(sizes))


# --- relabelings ---------------------------------------------------------------------------------------------------

@lru_cache(maxsize=32)
def _subsets(n: int, k: int) -> tuple[np.ndarray, bool]:
    """(relabelings x n) 0/1 rows, each choosing k of n for the first group: every subset when there are at most
    EXACT_LIMIT, else RESAMPLES random ones (the identity excluded: it is counted once, as the observed)."""
    if math.comb(n, k) <= EXACT_LIMIT:
        rows = np.zeros((math.comb(n, k), n), dtype=np.int8)
        for i, chosen in enumerate(itertools.combinations(range(n), k)):
            rows[i, chosen] = 1
        return rows, True
    rng = np.random.default_rng(0)
    order = np.argsort(rng.random((RESAMPLES, n)), axis=1)[:, :k]
    rows = np.zeros((RESAMPLES, n), dtype=np.int8)
    np.put_along_axis(rows, order, 1, axis=1)
    return rows, False


@lru_cache(maxsize=32)
def _signs(n: int) -> tuple[np.ndarray, bool]:
    """(relabelings x n) rows of +1/-1: every sign pattern when 2^n <= EXACT_LIMIT, else RESAMPLES random ones."""
    if 2 ** n <= EXACT_LIMIT:
        return np.array(list(itertools.product((1, -1), repeat=n)), dtype=np.int8), True
    return np.random.default_rng(0).choice(np.array([1, -1], dtype=np.int8), (RESAMPLES, n)), False


@lru_cache(maxsize=32)
def _permutations(n: int) -> tuple[np.ndarray, bool]:
    """(relabelings x n) index permutations: all when n! <= EXACT_LIMIT, else RESAMPLES random ones."""
    if math.factorial(n) <= EXACT_LIMIT:
        return np.array(list(itertools.permutations(range(n))), dtype=np.int16), True
    rng = np.random.default_rng(0)
    return np.argsort(rng.random((RESAMPLES, n)), axis=1).astype(np.int16), False


# --- the inverted test -----------------------------------------------------------------------------------------------

def _p(a_r: np.ndarray, b_r: np.ndarray, estimate: float, exact: bool, d: float) -> float:
    """Two-sided p of effect d: 2 x the smaller tail (scipy's convention), the observed counted once."""
    t = estimate - d
    null = a_r - d * b_r
    tol = 1e-12 * max(1.0, abs(t), float(np.abs(null).max(initial=0.0)))
    ge, le = np.count_nonzero(null >= t - tol), np.count_nonzero(null <= t + tol)
    n = len(null)
    if not exact:  # Monte-Carlo: the observed relabeling joins the sample (p never 0)
        ge, le, n = ge + 1, le + 1, n + 1
    return min(1.0, 2 * min(ge, le) / n)


def _invert(method: str, a_r, b_r, estimate: float, exact: bool, sizes, spread: float, level: float = LEVEL) -> Test:
    a_r, b_r = np.asarray(a_r, dtype=float), np.asarray(b_r, dtype=float)
    p = _p(a_r, b_r, estimate, exact, 0.0)
    p_min = 2 / len(a_r) if exact else 2 / (len(a_r) + 1)
    alpha = 1 - level
    bounds = []
    for side in (-1, 1):
        if p_min >= alpha:
            bounds.append(side * math.inf)
            continue
        inner, step = estimate, max(spread, abs(estimate), 1e-12)
        outer = estimate + side * step
        for _ in range(200):  # step out until the test rejects
            if _p(a_r, b_r, estimate, exact, outer) < alpha:
                break
            inner, step = outer, step * 2
            outer = estimate + side * step
        else:
            bounds.append(side * math.inf)
            continue
        for _ in range(60):  # then bisect the crossing
            mid = (inner + outer) / 2
            if _p(a_r, b_r, estimate, exact, mid) < alpha:
                outer = mid
            else:
                inner = mid
        bounds.append(inner)
    return Test(method, float(estimate), float(bounds[0]), float(bounds[1]), p, p_min, exact, tuple(sizes))


def _clean(values) -> np.ndarray:
    return np.asarray(values, dtype=float).ravel()


def two_sample(a, b) -> Test:
    """Difference in means a - b: a permutation test over the relabelings of the pooled runs (exact up to 10 vs 10
    seeds), and the interval of the shifts it does not reject. NaNs (diverged runs) are the caller's to handle."""
    a, b = _clean(a), _clean(b)
    method = "permutation test, difference in means"
    if len(a) < 1 or len(b) < 1 or np.isnan(a).any() or np.isnan(b).any():
        return _nan_test(method, (len(a), len(b)))
    na, nb = len(a), len(b)
    z = np.concatenate([a, b])
    rows, exact = _subsets(na + nb, na)
    s = rows @ z  # sum of the runs relabeled "a"
    k = rows[:, :na].sum(1)  # how many of them were a's
    a_r = s / na - (z.sum() - s) / nb
    b_r = k / na - (na - k) / nb  # what a shift d of the a's does to the statistic, per unit of d
    spread = float(np.ptp(z)) if len(z) > 1 else 0.0
    return _invert(method, a_r, b_r, a.mean() - b.mean(), exact, (na, nb), spread)


def one_sample(d, level: float = LEVEL) -> Test:
    """Mean of d (e.g. a measure minus its threshold): the sign-flip permutation test (exact up to 17 values), and
    its interval at `level` (0.90 gives each end as a one-sided 95% bound)."""
    d = _clean(d)
    method = "sign-flip permutation test, mean"
    if len(d) < 1 or np.isnan(d).any():
        return _nan_test(method, (len(d),))
    rows, exact = _signs(len(d))
    return _invert(method, rows @ d / len(d), rows.sum(1) / len(d), d.mean(), exact, (len(d),),
                   float(np.ptp(d)) if len(d) > 1 else 0.0, level)


def slope(x, y) -> Test:
    """Least-squares slope of y on x over every run: a permutation test of y against x, and its inverted interval."""
    x, y = _clean(x), _clean(y)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    method = "permutation test, least-squares slope"
    if len(x) < 3 or len(np.unique(x)) < 2:
        return _nan_test(method, (len(x),))
    perms, exact = _permutations(len(x))
    xc = x - x.mean()
    sxx = xc @ xc
    a_r = y[perms] @ xc / sxx  # slope of the relabeled y on x
    b_r = x[perms] @ xc / sxx  # what y - d x does to it, per unit of d
    fit = xc @ (y - y.mean()) / sxx
    return _invert(method, a_r, b_r, fit, exact, (len(x),), float(np.ptp(y) / max(np.ptp(x), 1e-12)))


# --- families and verdicts -------------------------------------------------------------------------------------------

def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of one family of p-values (NaNs stay NaN and are not counted)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    running = 0.0
    for rank, i in enumerate(idx[np.argsort(p[idx], kind="stable")]):
        running = max(running, min(1.0, (len(idx) - rank) * p[i]))
        out[i] = running
    return out


def verdict(test: Test, claimed: int, margin: float, p_adjusted: float, alpha: float = ALPHA,
            bar: float | None = None) -> str:
    """The verdict of a row. `claimed` is the sign the study asserts for the effect (+1, -1), or 0 for "no worse
    than the margin" (effect <= margin; then `p_adjusted` is that of the test against the margin, which must pass
    the correction both for supported and for contradicted). `margin` (> 0) bounds a practically negligible effect; `bar`, when given,
    is the size the claim asserts ("fails": at least twice the reference's loss), which the interval must clear (and
    then `p_adjusted` is that of the test at the bar)."""
    if min(test.sizes) < 2:  # one seed a side (or one run): no noise estimate
        return ONE_SEED
    if np.isnan(test.estimate) or np.isnan(p_adjusted):
        return INCONCLUSIVE
    significant = p_adjusted < alpha
    if claimed == 0:  # p_adjusted: the test of "the effect equals the margin"; its interval lies on one side
        return (SUPPORTED if test.high <= margin else CONTRADICTED if test.low > margin else INCONCLUSIVE) \
            if significant else INCONCLUSIVE
    if -margin <= test.low and test.high <= margin:
        return NO_DIFFERENCE
    if significant and np.sign(test.estimate) == -claimed:
        return CONTRADICTED
    if bar is not None:
        low, high = (test.low, test.high) if claimed > 0 else (-test.high, -test.low)
        if high < bar:  # smaller than the size the claim asserts; p_adjusted: the test at that size
            return CONTRADICTED if significant else INCONCLUSIVE
        return SUPPORTED if significant and low >= bar else INCONCLUSIVE
    return SUPPORTED if significant and np.sign(test.estimate) == claimed else INCONCLUSIVE


def _t_power(shift: float, df: int, alpha: float) -> float:
    """Power of a two-sided t-test at level `alpha` with `df` degrees of freedom when the effect is `shift` standard
    errors (the noncentral t): the normal approximation overstates it at few seeds (69% for a promised 80% at 6 seeds
    per value of a 5-value sweep, at level 0.002)."""
    crit = sps.t.ppf(1 - alpha / 2, df)
    return float(sps.nct.sf(crit, df, shift) + sps.nct.cdf(-crit, df, shift))


def _fewest(start: int, power_at, reachable, power: float, limit: int) -> int:
    """The fewest seeds from `start` (the normal approximation's) at which the t-test's power reaches `power` and the
    permutation test can reach the level at all."""
    k = start
    while k < limit and not (reachable(k) and power_at(k) >= power):
        k += 1
    return min(k, limit)


def seeds_needed(a, b, alpha: float, power: float = POWER, limit: int = SEEDS_LIMIT) -> int | None:
    """Seeds per setting for `power` to detect the observed difference a - b at level `alpha` (two-sided; the
    t-test's power with the pooled spread), and no fewer than an exact permutation test needs to reach p < alpha.
    None where the observed difference is 0 or the spread unknown."""
    a, b = _clean(a), _clean(b)
    if len(a) < 2 or len(b) < 2 or np.isnan(a).any() or np.isnan(b).any():
        return None
    diff = abs(a.mean() - b.mean())
    sd = math.sqrt((a.var(ddof=1) * (len(a) - 1) + b.var(ddof=1) * (len(b) - 1)) / (len(a) + len(b) - 2))
    if diff == 0:
        return None
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    return _fewest(max(2, math.ceil(2 * (z * sd / diff) ** 2)),
                   lambda n: 1.0 if sd == 0 else _t_power(diff / (sd * math.sqrt(2 / n)), 2 * n - 2, alpha),
                   lambda n: 2 / math.comb(2 * n, n) < alpha, power, limit)


def seeds_needed_slope(x, y, alpha: float, power: float = POWER, limit: int = SEEDS_LIMIT) -> int | None:
    """Seeds per swept value for `power` to detect the observed least-squares slope of y on x at level `alpha`
    (two-sided; the t-test's power with the residual spread, every distinct x with the same seeds), and no fewer
    than the permutation test of `slope` needs to reach p < alpha. None where the slope is 0 or the spread unknown."""
    x, y = _clean(x), _clean(y)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    values = np.unique(x)
    if len(x) < 3 or len(values) < 2:
        return None
    xc = x - x.mean()
    slope_ = xc @ (y - y.mean()) / (xc @ xc)
    residual = y - y.mean() - slope_ * xc
    fit, sd = abs(slope_), math.sqrt(residual @ residual / (len(x) - 2))
    if fit == 0 or sd == 0:
        return None
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    m, spread = len(values), float(((values - values.mean()) ** 2).sum())  # what one seed of every value gives

    def reachable(k):  # the smallest p of `slope`'s test on m values x k seeds: exact, or Monte-Carlo's
        n = m * k
        exact = n <= 12 and math.factorial(n) <= EXACT_LIMIT
        floor = 2 * math.factorial(k) ** m / math.factorial(n) if exact else 2 / (RESAMPLES + 1)
        return floor < alpha

    return _fewest(max(2, math.ceil((z * sd / fit) ** 2 / spread)),
                   lambda k: _t_power(fit * math.sqrt(k * spread) / sd, m * k - 2, alpha), reachable, power, limit)
