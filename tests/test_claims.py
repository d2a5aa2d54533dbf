"""The claims' statistics on made-up results whose answer is known."""

import numpy as np
import pytest

from fmnist_lib import claims, metrics
from fmnist_lib.config import Config
from fmnist_lib.results import Group
from fmnist_lib.train import RunResult


def run(final, seed=0, model="autoencoder", curve=None, status="ok", extra=None, epochs=None):
    """A run whose validation metric ends at `final` (a short falling curve unless `curve` is given)."""
    curve = list(curve) if curve is not None else [final * 3, final * 1.5, final]
    h = {"val_loss": curve, "train_eval_loss": [v * 0.9 for v in curve], "test_loss": curve,
         "val_acc": [1 - v for v in curve], "test_acc": [1 - v for v in curve]}
    h.update(extra or {})
    cfg = Config(model=model, seed=seed, epochs=epochs or len(curve))
    return RunResult(cfg, h, status, state={}, meta={"wall_seconds": 1.0})


def group(label, finals, **kw):
    return Group(label, [run(f, seed=i, **kw) for i, f in enumerate(finals)])


def verdict_of(results, start, **kw):
    table = claims.evaluate_claims(results, **kw)
    rows = table[table.claim.str.startswith(start)]
    assert len(rows) == 1, list(table.claim)
    return rows.iloc[0]


def noisy(rng, centre, sd=0.001, k=3):
    return centre + rng.normal(0, sd, k)


def n_sweep(fn, seeds=3, sd=0.001):
    rng = np.random.default_rng(0)
    return {"autoencoder-n": {n: group(n, noisy(rng, fn(n), sd, seeds)) for n in (16, 32, 64, 128, 256)}}


def test_clear_noisy_trend_is_supported():
    res = n_sweep(lambda n: 0.05 - 0.004 * np.log2(n))
    row = verdict_of(res, "Loss falls as n grows")
    assert row.verdict == "supported" and row["p (Holm)"] < 0.05


def test_flat_trend_is_inconclusive():
    res = n_sweep(lambda n: 0.03, sd=0.002)
    assert verdict_of(res, "Loss falls as n grows").verdict == "inconclusive"


def test_reversed_trend_is_contradicted():
    res = n_sweep(lambda n: 0.02 + 0.004 * np.log2(n))
    assert verdict_of(res, "Loss falls as n grows").verdict == "contradicted"


def test_a_trend_over_values_has_a_noise_estimate_even_with_one_seed():
    res = n_sweep(lambda n: 0.05 - 0.004 * np.log2(n), seeds=1, sd=0.0005)
    assert verdict_of(res, "Loss falls as n grows").verdict == "supported"


def test_two_settings_with_one_seed_give_direction_only():
    res = {"autoencoder-n": {16: group(16, [0.04]), 64: group(64, [0.02])}}
    row = verdict_of(res, "n=16 is too small")
    assert row.verdict == "direction only (1 seed)" and np.isnan(row.p)


def test_diminishing_returns():
    # 16 -> 64 gains 0.02, 64 -> 256 gains 0.002: ratio 0.1, well below 0.5
    res = n_sweep(lambda n: {16: 0.05, 32: 0.04, 64: 0.03, 128: 0.029, 256: 0.028}[n], sd=0.0005)
    row = verdict_of(res, "n ≥ 64 is enough")
    assert row.verdict == "supported" and "95% bootstrap CI" in row.measured
    # linear in log2 n: 64 -> 256 gains as much as 16 -> 64, ratio 1
    res = n_sweep(lambda n: 0.05 - 0.005 * np.log2(n), sd=0.0005)
    assert verdict_of(res, "n ≥ 64 is enough").verdict == "contradicted"


def test_holm_matches_a_hand_computed_example():
    # sorted 0.01, 0.02, 0.03, 0.5 with m = 4: 0.04, max(0.04, 0.06)=0.06, max(0.06, 0.06)=0.06, max(.., 0.5)=0.5
    adjusted = metrics.holm([0.03, 0.5, 0.01, np.nan, 0.02])
    assert np.allclose(adjusted[[0, 1, 2, 4]], [0.06, 0.5, 0.04, 0.06]) and np.isnan(adjusted[3])


def test_verdicts_use_the_holm_adjusted_p():
    rows = [claims.Row("1", f"c{i}", "", "", 3, p=p, direction=True) for i, p in enumerate([0.02, 0.03, 0.04])]
    # raw p < 0.05 everywhere, but Holm gives 0.06, 0.06, 0.06
    assert [r.verdict for r in claims.judge(rows)] == ["inconclusive"] * 3


def test_trend_slope_and_interval_match_scipy():
    from scipy import stats
    x, y = np.array([1, 2, 3, 4, 5.0]), np.array([2.1, 3.9, 6.2, 7.8, 10.1])
    t = metrics.trend(x, y)
    ref = stats.linregress(x, y)
    assert t["slope"] == pytest.approx(ref.slope) and t["p"] == pytest.approx(ref.pvalue)
    assert t["low"] < ref.slope < t["high"]


def test_fails_rule_per_seed():
    good = Group("sigmoid", [run(0.02, i, curve=[0.06, 0.03, 0.02]) for i in range(3)])
    stalled = Group("relu", [run(0.1, i, curve=[0.101, 0.1005, 0.1]) for i in range(3)])
    res = {"autoencoder-activation": {"sigmoid": good, "relu": stalled}}
    assert verdict_of(res, "The Sigmoid output").verdict == "supported"
    res["autoencoder-activation"]["relu"] = Group("relu", [stalled.runs[0], good.runs[1], good.runs[2]])
    row = verdict_of(res, "The Sigmoid output")
    assert row.verdict == "mixed" and "holds in 1 of 3 seeds" in row.measured
    res["autoencoder-activation"]["relu"] = good
    assert verdict_of(res, "The Sigmoid output").verdict == "contradicted"


def test_slow_is_judged_by_epochs_to_threshold_not_by_the_last_value():
    fast = Group(1e-3, [run(0.02, i, curve=[0.025, 0.021, 0.02, 0.02]) for i in range(3)])
    # lr 1e-4 ends at the same value but gets within 10% of 0.02 only at epoch 4
    slow = Group(1e-4, [run(0.02, i, curve=[0.06, 0.04, 0.03, 0.0215 + 0.0001 * i]) for i in range(3)])
    res = {"autoencoder-lr": {1e-4: slow, 1e-3: fast}}
    row = verdict_of(res, "lr = 1e-4 is slow")
    assert row.verdict == "supported" and "lr=1e-4 4, 4, 4" in row.measured


def test_scratch_against_pretrained_on_accuracy_and_loss():
    rng = np.random.default_rng(1)
    arms = {"scratch": group("s", noisy(rng, 0.10, 0.003, 5), model="classifier"),
            "pretrained-frozen": group("p", noisy(rng, 0.25, 0.003, 5), model="classifier")}
    table = claims.evaluate_claims({"arms": arms})
    assert list(table.verdict) == ["supported", "supported"]
    arms = {"scratch": arms["pretrained-frozen"], "pretrained-frozen": arms["scratch"]}
    assert set(claims.evaluate_claims({"arms": arms}).verdict) == {"contradicted"}


def test_confusion_rows_from_stored_predictions():
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    labels = np.repeat(np.arange(10), 100)

    def predicting(mistakes, seed):
        pred = labels.copy()
        for (true, wrong), k in mistakes.items():
            pred[np.flatnonzero(labels == true)[:k + seed]] = wrong
        r = run(0.1, seed, model="classifier")
        r.predictions = pred
        return r

    shirtish = {(6, 0): 30, (2, 4): 20, (4, 2): 15, (0, 6): 10}
    arms = {"scratch": Group("s", [predicting(shirtish, s) for s in range(3)]),
            "pretrained-frozen": Group("p", [predicting({k: 2 * v for k, v in shirtish.items()}, s)
                                             for s in range(3)])}
    table = claims.evaluate_claims({"arms": arms}, labels=labels, classes=classes)
    rows = table.set_index("claim")
    assert rows.loc["The largest confusions are among shirt, T-shirt/top, pullover and coat", "verdict"] == "supported"
    assert rows.loc["The scratch classifier's confusion matrix shows less confusion than the pretrained one's",
                    "verdict"] == "supported"


def test_bottom_line_names_the_contradicted_claims():
    res = n_sweep(lambda n: 0.02 + 0.004 * np.log2(n))
    text = claims.bottom_line(claims.evaluate_claims(res))
    assert "contradicted" in text and "Loss falls as n grows (fig. 4)" in text


def test_readme_carries_the_choices_table_of_the_library():
    from pathlib import Path

    from fmnist_lib.choices import choices_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert choices_markdown() in readme, "README's choices table differs from fmnist_lib/choices.py: paste " \
                                         "the output of `python -c 'from fmnist_lib.choices import *; " \
                                         "print(choices_markdown())'`"


def test_no_diminishing_returns_when_the_first_gain_is_negative():
    # n=16 beats n=64 and n=256 beats n=64: nothing diminishes, whatever the ratio's sign says
    res = n_sweep(lambda n: {16: 0.029, 32: 0.0295, 64: 0.030, 128: 0.029, 256: 0.028}[n], sd=0.0002)
    assert verdict_of(res, "n ≥ 64 is enough").verdict == "contradicted"


def test_zero_variance_on_both_sides_is_no_test():
    assert np.isnan(metrics.welch([6, 6, 6], [5, 5, 5]))
    res = {"autoencoder-n": {16: group(16, [0.04] * 3), 64: group(64, [0.02] * 3)}}
    assert verdict_of(res, "n=16 is too small").verdict == "inconclusive"


def test_both_sides_diverged_is_inconclusive_and_one_side_loses():
    def diverged(label):
        return Group(label, [run(0.1, i, status="diverged") for i in range(3)])

    res = {"autoencoder-n": {16: diverged(16), 64: diverged(64)}}
    assert verdict_of(res, "n=16 is too small").verdict == "inconclusive"
    res = {"autoencoder-n": {16: diverged(16), 64: group(64, [0.02, 0.021, 0.022])}}
    assert verdict_of(res, "n=16 is too small").verdict == "supported"


def test_a_trend_with_diverged_runs_left_out_is_at_most_mixed():
    res = n_sweep(lambda n: 0.05 - 0.004 * np.log2(n))
    res["autoencoder-n"][256] = Group(256, [run(0.01, i, status="diverged") for i in range(3)])
    row = verdict_of(res, "Loss falls as n grows")
    assert row.verdict == "mixed" and "3 diverged run(s) left out" in row.measured


def test_largest_confusions_with_one_seed_give_direction_only():
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    labels = np.repeat(np.arange(10), 100)
    pred = labels.copy()
    pred[np.flatnonzero(labels == 6)[:30]] = 0
    r = run(0.1, 0, model="classifier")
    r.predictions = pred
    arms = {"scratch": Group("s", [r]), "pretrained-frozen": Group("p", [r])}
    table = claims.evaluate_claims({"arms": arms}, labels=labels, classes=classes).set_index("claim")
    assert table.loc["The largest confusions are among shirt, T-shirt/top, pullover and coat", "verdict"] == \
        "direction only (1 seed)"


def dropout_runs(rng, gap_fraction, curve_end, seeds=3):
    """Runs whose validation loss ends at about 0.03 (after `curve_end`: a late rise or a fall) and whose eval-mode
    training loss lies `gap_fraction` of it below."""
    out = []
    for i in range(seeds):
        v = 0.03 + rng.normal(0, 0.0003)
        curve = [v * 2, v * curve_end, v]
        g = gap_fraction[i] if isinstance(gap_fraction, list) else gap_fraction
        out.append(run(v, seed=i, curve=curve,
                       extra={"train_eval_loss": [c * (1 - g) * (1 + rng.normal(0, 0.001)) for c in curve]}))
    return out


def dropout_sweep(none_gap, none_curve_end, used_gap=0.001):
    rng = np.random.default_rng(1)
    return {"autoencoder-dropout": {0.0: Group(0.0, dropout_runs(rng, none_gap, none_curve_end)),
                                    0.2: Group(0.2, dropout_runs(rng, used_gap, 1.2))}}


def test_dropout_cannot_prevent_overfitting_that_does_not_happen():
    # p=0.2's gap is clearly smaller (Welch alone would say supported), but p=0 barely generalizes worse (0.4% of
    # its validation loss) and its validation loss ends at its minimum: there is no overfitting to prevent
    row = verdict_of(dropout_sweep(none_gap=0.004, none_curve_end=1.2), "p = 0.2 prevents overfitting")
    assert row.verdict == "contradicted" and np.isnan(row.p)
    assert "overfits in 0 of 3 seeds: nothing to prevent" in row.measured and row.test.startswith("rule:")


def test_dropout_prevents_overfitting_where_p0_overfits():
    # p=0: a 10% gap and a validation loss that ends 5% above its minimum (epoch 2); p=0.2: a 0.1% gap
    row = verdict_of(dropout_sweep(none_gap=0.10, none_curve_end=0.95), "p = 0.2 prevents overfitting")
    assert row.verdict == "supported" and row["p (Holm)"] < 0.05
    assert "overfits in 3 of 3 seeds" in row.measured


def test_dropout_prevents_overfitting_only_in_the_seeds_where_p0_overfits():
    groups = dropout_sweep(none_gap=[0.10, 0.105, 0.048], none_curve_end=1.2)["autoencoder-dropout"]
    row = claims.judge([claims.gap_row(groups, claim="p = 0.2 prevents overfitting")])[0]
    assert row.p < 0.05 and row.verdict == "mixed" and "overfits in 2 of 3 seeds" in row.measured
