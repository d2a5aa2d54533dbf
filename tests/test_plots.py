import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from fmnist_lib import narrate, plots
from fmnist_lib.config import Config
from fmnist_lib.results import Group, summary_table
from fmnist_lib.train import RunResult


def run(seed, losses, status="ok"):
    h = {"train_loss": losses, "val_loss": losses, "test_loss": losses, "test_loss_dropout": [v * 1.2 for v in losses]}
    return RunResult(Config(seed=seed), h, status, state={}, meta={"wall_seconds": 1.0})


def sweep():
    return {0.001: Group(0.001, [run(0, [0.05, 0.03]), run(1, [0.06, 0.031])]),
            0.1: Group(0.1, [run(0, [0.2], "diverged"), run(1, [0.2, 0.19])])}


def test_curves_band_over_seeds_and_stop_at_the_shortest_seed():
    mean, std = sweep()[0.001].curve("val_loss")
    assert np.allclose(mean, [0.055, 0.0305]) and np.allclose(std, np.std([[0.05, 0.03], [0.06, 0.031]], 0, ddof=1))
    mean, _ = sweep()[0.1].curve("val_loss")
    assert len(mean) == 1
    assert np.isnan(sweep()[0.1].final("val_loss")[0])


def test_plot_functions_return_figures_and_mark_divergence():
    groups = sweep()
    for fig in (plots.plot_sweep_curves(groups, "lr"),
                plots.plot_history(groups[0.001], ["train_loss", "val_loss", "test_loss_dropout"]),
                plots.plot_reconstructions(torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)),
                plots.plot_confusion(np.eye(10), [str(i) for i in range(10)])):
        assert isinstance(fig, plt.Figure)
        plt.close(fig)
    fig = plots.plot_sweep_curves(groups, "lr")
    labels = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert "learning rate 0.1 (diverged)" in labels
    plt.close(fig)


def test_study_figure_draws_a_curve_per_value_and_the_final_values_beside():
    fig = plots.plot_study_figure(sweep(), "lr", ["val_loss"], "autoencoder", title="Figure 6")
    curves, finals = fig.axes
    assert [t.get_text() for t in curves.get_legend().get_texts()] == ["learning rate 0.001",
                                                                      "learning rate 0.1 (diverged)"]
    assert len(curves.get_lines()) == 3  # a curve per value, and an x where the diverged one stopped
    assert curves.get_ylabel() == "validation MSE" and curves.get_xlabel() == "epoch"
    assert [t.get_text() for t in finals.get_legend().get_texts()] == ["validation MSE", "test MSE"]
    assert [t.get_text() for t in finals.get_xticklabels()] == ["0.001", "0.1"]
    val, test = (bars.lines[0].get_ydata() for bars in finals.containers)
    assert np.allclose(val[0], 0.0305) and np.isnan(val[1])  # mean final value; a diverged seed makes it NaN
    assert fig._suptitle.get_text() == "Figure 6"
    plt.close(fig)


def test_arms_figure_draws_a_bar_per_arm_its_seeds_and_accuracy_from_0():
    def arm(name, accs):
        return Group(name, [RunResult(Config(model="classifier", seed=s), {"test_acc": [a]}, "ok", state=None)
                            for s, a in enumerate(accs)])

    fig = plots.plot_arms({"scratch": arm("scratch", [0.8, 0.9]), "frozen": arm("frozen", [0.6, 0.7])}, "test_acc")
    (ax,) = fig.axes
    assert [round(bar.get_height(), 6) for bar in ax.patches] == [0.85, 0.65]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["scratch", "frozen"]
    dots = [line for line in ax.get_lines() if line.get_marker() == "."]
    assert [list(d.get_ydata()) for d in dots] == [[0.8, 0.9], [0.6, 0.7]]
    assert ax.get_ylim() == (0, 1) and ax.get_ylabel() == "test accuracy"  # an honest axis: accuracy from 0
    plt.close(fig)


def test_table_and_text_say_what_diverged_and_what_won():
    groups = sweep()
    table = summary_table(groups, ["val_loss"])
    assert table.loc[0.1, "status"] == "diverged" and np.isnan(table.loc[0.1, "val_loss mean"])
    text = narrate.sweep_text(groups, "lr", "val_loss", False, "test_loss")
    assert "best learning rate is **0.001**" in text and "Diverged (loss became non-finite; curves stop there): lr=0.1" in text
    assert "+20%" in narrate.history_text(groups[0.001]) and "overstated" in narrate.history_text(groups[0.001])


def test_silent_classes_are_counted_per_seed_for_the_relu_head_only():
    def clf(seed, silent, head="relu"):
        h = {"val_loss": [1.0], "val_acc": [0.5], "test_unpredicted": [silent]}
        return RunResult(Config(model="classifier", seed=seed, head=head), h, "ok", state={}, meta={})

    groups = {25: Group(25, [clf(0, 2), clf(1, 0)]), 100: Group(100, [clf(0, 0), clf(1, 1)])}
    text = narrate.silent_classes_text(groups, "batch_size")
    assert "batch size 25: 2, 0; batch size 100: 0, 1" in text
    assert narrate.silent_classes_text({25: Group(25, [clf(0, 2, head="linear")])}, "batch_size") == ""
    assert narrate.silent_classes_text(sweep(), "lr") == ""  # autoencoders


def test_a_bimodal_group_is_drawn_as_thin_lines_per_seed_not_a_band():
    def clf(seed, acc, dead):
        h = {"val_acc": [acc - 0.1, acc], "test_unpredicted": [dead, dead]}
        return RunResult(Config(model="classifier", seed=seed), h, "ok", state={}, meta={})

    bimodal = Group("scratch", [clf(0, 0.80, 1), clf(1, 0.90, 0), clf(2, 0.80, 1)])
    alike = Group("scratch", [clf(0, 0.90, 0), clf(1, 0.91, 0), clf(2, 0.89, 0)])
    for group, lines, bands in ((bimodal, 1 + 3, 0), (alike, 1, 1)):
        fig, ax = plt.subplots()
        plots._band(ax, group, "val_acc", "scratch")
        assert (len(ax.lines), len(ax.collections)) == (lines, bands)
        plt.close(fig)


def test_forest_plot_draws_a_line_per_row_coloured_by_verdict_with_its_margin():
    table = pd.DataFrame([
        {"figure": "4", "claim": "n = 16 is too small", "family": "statement", "verdict": "supported",
         "estimate": -0.011, "low": -0.015, "high": -0.007, "margin": 0.0008, "reference": 0.04},
        {"figure": "7, 8", "claim": "scratch beats frozen", "family": "plain logits", "verdict": "inconclusive",
         "estimate": 0.05, "low": -np.inf, "high": np.inf, "margin": 0.01, "reference": 0.75}])
    fig = plots.plot_forest(table)
    ax = fig.axes[0]
    assert "Forest plot" in ax.get_title()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == ["4: n = 16 is too small", "7, 8: scratch beats frozen [plain logits]"]
    segments = [line for line in ax.lines if len(line.get_xdata()) == 2]
    first = next(s for s in segments if s.get_ydata()[0] == 1)  # the first row is drawn on top
    assert np.allclose(first.get_xdata(), [-37.5, -17.5])  # the interval relative to the reference, in %
    assert first.get_color() == plots.VERDICT_COLORS["supported"]
    plt.close(fig)


def test_study_figure_is_one_row_per_metric_and_its_long_category_names_do_not_overlap():
    def clf(seed, encoder):
        h = {"val_loss": [1.0, 0.9], "test_loss": [1.1, 1.0], "val_acc": [0.5, 0.6], "test_acc": [0.5, 0.61]}
        return RunResult(Config(model="classifier", seed=seed, encoder=encoder), h, "ok", state={}, meta={})

    names = ("scratch", "pretrained-frozen", "pretrained-frozen-eval", "pretrained-finetune", "random-frozen")
    arms = {name: Group(name, [clf(0, name), clf(1, name)]) for name in names}
    fig = plots.plot_study_figure(arms, "encoder", ["val_loss", "val_acc"], "classifier")
    assert len(fig.axes) == 4 and fig.get_size_inches()[0] <= 10  # two columns: readable on a printed page
    final = fig.axes[1]
    assert [t.get_text().replace("\n", "") for t in final.get_xticklabels()] == list(names)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in final.get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:])), "x tick labels overlap"
    assert fig.axes[3].get_ylabel() == "final accuracy"
    plt.close(fig)
