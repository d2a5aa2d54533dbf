"""The study's conclusions on made-up results whose answer is known: the verdict words, Holm within a family, shared
settings bringing every seed, premises, claimed sizes, both heads, and the best-epoch flag."""

import numpy as np
import pandas as pd
import pytest

from fmnist_lib import claims, stats
from fmnist_lib.config import Config
from fmnist_lib.plan import LINEAR
from fmnist_lib.results import Group
from fmnist_lib.train import RunResult


def run(final, seed=0, curve=None, gap=0.0, **cfg):
    """A run whose validation loss ends at `final` (a falling curve unless `curve` is given); its eval-mode training
    loss sits `gap` (a fraction) below the validation loss."""
    curve = list(curve) if curve is not None else [final * 3, final * 1.5, final * 1.1, final]
    h = {"val_loss": curve, "train_eval_loss": [v * (1 - gap) for v in curve], "test_loss": curve,
         "val_acc": [1 - v for v in curve], "test_acc": [1 - v for v in curve]}
    config = Config(seed=seed, epochs=len(curve), **cfg)
    return RunResult(config, h, "ok", state={}, meta={"wall_seconds": 1.0})


def group(label, finals, seeds=None, **kw):
    seeds = range(len(finals)) if seeds is None else seeds
    return Group(label, [run(f, seed=s, **kw) for s, f in zip(seeds, finals)])


def row(results, start, family="statement", **kw):
    table = claims.evaluate_claims(results, **kw)
    rows = table[table.claim.str.startswith(start) & (table.family == family)]
    assert len(rows) == 1, list(table.claim)
    return rows.iloc[0]


def spread(centre, k, sd=0.0005, seed=0):
    return centre + np.random.default_rng(seed).normal(0, sd, k)


def n_experiments(n16, n64_sweep, n64_all):
    return {"baseline": {"baseline": group("baseline", n64_all)},
            "autoencoder-n": {16: group(16, n16, n=16), 64: group(64, n64_sweep)}}


def test_a_shared_baseline_brings_all_its_seeds_and_five_against_ten_can_pass_holm():
    base = spread(0.040, 10)
    r = row(n_experiments(spread(0.051, 5, seed=1), base[:5], base), "n = 16 is too small")
    assert r.seeds == "10 vs 5"  # n = 64 (every seed of the baseline) vs n = 16
    assert r["smallest p"] == pytest.approx(2 / 3003) and r.p == pytest.approx(2 / 3003)
    assert r.verdict == "supported"
    # with only the sweep's own five seeds of n = 64 the same data could not pass: 2/252 is the floor
    alone = row({"autoencoder-n": n_experiments(spread(0.051, 5, seed=1), base[:5], base)["autoencoder-n"]},
                "n = 16 is too small")
    assert alone.seeds == "5 vs 5" and alone["smallest p"] == pytest.approx(2 / 252)


def test_an_effect_inside_its_margin_is_no_practical_difference_and_the_claim_fails():
    base = spread(0.040, 10, sd=0.0001)
    r = row(n_experiments(spread(0.0401, 5, sd=0.0001, seed=2), base[:5], base), "n = 16 is too small")
    assert r.verdict == "no practical difference"
    assert abs(r.low) < r.margin and abs(r.high) < r.margin


def test_a_loss_row_flags_a_verdict_that_differs_at_the_best_epoch():
    base = [run(0.040 + 0.0001 * s, seed=s) for s in range(10)]
    # n = 16 ends worse, but at its best epoch it was as good as n = 64 ends: a curve that turns up
    n16 = [run(0.05, seed=s, n=16, curve=[0.09, 0.0401 + 0.0001 * s, 0.045, 0.05]) for s in range(5)]
    res = {"baseline": {"baseline": Group("baseline", base)},
           "autoencoder-n": {16: Group(16, n16), 64: Group(64, base[:5])}}
    r = row(res, "n = 16 is too small")
    assert r.verdict == "supported" and r["at best epoch"] == "no practical difference"


def dropout(p0_gap, p2_gap, train_size=50_000, k=10):
    return {0.0: group(0.0, spread(0.022, k), dropout=0.0, gap=p0_gap, train_size=train_size),
            0.2: group(0.2, spread(0.040, k, seed=3), gap=p2_gap, train_size=train_size)}


def test_prevents_overfitting_has_its_premise_absent_when_p0_does_not_overfit():
    r = row({"autoencoder-dropout": dropout(0.004, 0.0)}, "p = 0.2 prevents overfitting (50,000")
    assert r.verdict == "premise absent"


def test_prevents_overfitting_is_tested_where_p0_overfits():
    small = dropout(0.30, 0.06, train_size=5000)
    assert row({"autoencoder-dropout-small": small}, "p = 0.2 prevents overfitting where").verdict == "supported"
    same = dropout(0.30, 0.30, train_size=5000)
    assert row({"autoencoder-dropout-small": same}, "p = 0.2 prevents overfitting where").verdict in (
        "no practical difference", "inconclusive")


@pytest.mark.parametrize("factor, verdict", [(3.0, "supported"), (1.3, "contradicted")])
def test_fails_to_train_must_clear_the_claimed_size(factor, verdict):
    res = {"autoencoder-optimizer": {"adam": group("adam", spread(0.040, 10)),
                                     "sgd": group("sgd", spread(0.040 * factor, 5), optimizer="sgd")}}
    assert row(res, "Adam converges").verdict == verdict


def acc_run(acc, seed, curve=None, **cfg):
    curve = curve or [acc - 0.2, acc - 0.05, acc]
    h = {"val_acc": curve, "test_acc": curve, "val_loss": [1 - a for a in curve], "test_loss": [1 - a for a in curve],
         "train_eval_loss": [1 - a for a in curve]}
    return RunResult(Config(model="classifier", seed=seed, epochs=len(curve), **cfg), h, "ok", {}, {"wall_seconds": 1})


def arms(head, scratch, frozen):
    mk = lambda accs, enc: Group(enc, [acc_run(a, s, encoder=enc, head=head) for s, a in enumerate(accs)])  # noqa
    return {"scratch": mk(scratch, "scratch"), "pretrained-frozen": mk(frozen, "pretrained-frozen")}


def test_every_classifier_conclusion_is_judged_under_both_heads_in_its_own_family():
    # the statement's head: bimodal scratch runs (a class dead or alive), all above every frozen run
    relu = arms("relu", [0.80, 0.90, 0.80, 0.90, 0.81, 0.89, 0.80, 0.90, 0.81, 0.90], spread(0.75, 10, 0.01))
    linear = arms("linear", spread(0.90, 10, 0.003), spread(0.769, 10, 0.005))
    res = {"arms": relu, "arms" + LINEAR: linear}
    table = claims.evaluate_claims(res)
    acc = table[table.claim.str.contains("in accuracy")]
    assert list(acc.family) == ["statement", "plain logits"]
    assert list(acc.verdict) == ["supported", "supported"]
    assert acc.iloc[0].p == pytest.approx(2 / 184756)  # 10 vs 10, separated: Welch could not see it
    for family in claims.FAMILIES:  # Holm within each family: a family of one row keeps its p
        one = table[table.family == family]
        assert (one["p (Holm)"] >= one.p).all()


def test_lr_1e4_slow_is_judged_against_each_seeds_own_run():
    # seed 1's lr = 1e-3 run has a dead class and ends low: a mean target would call every lr = 1e-4 run fast
    finals = [0.75, 0.62, 0.76, 0.75, 0.74]
    fast = [acc_run(f, s, curve=[f - 0.05, f - 0.005, f, f], lr=1e-3, encoder="pretrained-frozen")
            for s, f in enumerate(finals)]
    slow_runs = [acc_run(f - 0.005, s, curve=[0.3, 0.4, 0.5, f - 0.005], lr=1e-4, encoder="pretrained-frozen")
                 for s, f in enumerate(finals)]
    res = {"classifier-lr": {1e-3: Group(1e-3, fast), 1e-4: Group(1e-4, slow_runs)}}
    r = row(res, "Pretrained classifier: lr = 1e-4 converges very slowly")
    assert r.estimate == pytest.approx(4 - 2)  # epochs: 4 for each lr = 1e-4 seed, 2 for each own reference


def test_one_seed_per_setting_gives_direction_only():
    res = n_experiments([0.05], [0.04], [0.04])
    assert row(res, "n = 16 is too small").verdict == stats.ONE_SEED


def test_absent_experiments_leave_their_rows_out():
    assert claims.evaluate_claims({}).empty
    table = claims.evaluate_claims({"autoencoder-n": n_experiments([0.05] * 3, [0.04] * 3, [0.04] * 3)
                                    ["autoencoder-n"]})
    assert set(table.figure) == {"4"}
    assert isinstance(table, pd.DataFrame)


def test_an_undecided_trend_row_says_how_many_seeds_per_value_would_settle_it():
    centres = {16: 0.050, 32: 0.049, 64: 0.048, 128: 0.047, 256: 0.046}  # a slope lost in seed noise
    noisy = {"autoencoder-n": {n: group(n, spread(c, 2, sd=0.004, seed=i), n=n)
                               for i, (n, c) in enumerate(centres.items())}}
    r = row(noisy, "Loss falls as n grows")
    assert r.verdict == "inconclusive" and r.seeds == "5 values × 2 seeds" and r["seeds needed"] > 2
    clearer = {"autoencoder-n": {n: group(n, spread(c, 2, sd=0.002, seed=i), n=n)
                                 for i, (n, c) in enumerate(centres.items())}}
    assert row(clearer, "Loss falls as n grows")["seeds needed"] < r["seeds needed"]
