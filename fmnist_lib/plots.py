"""Figures from results: each function takes results and returns a matplotlib Figure; nothing trains here."""

from __future__ import annotations

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://", "nbagg")):
    matplotlib.use("Agg")  # scripts and tests draw off-screen; notebooks keep their inline backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from .results import Group  # noqa: E402
from .words import metric_label, param_label  # noqa: E402


STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P")


def _epoch_axis(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def _numeric(labels) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in labels)


def _band(ax, group: Group, metric: str, label: str, **style):
    mean, std = group.curve(metric)
    epochs = np.arange(1, len(mean) + 1)
    style = {"marker": "o" if len(mean) <= 12 else None, "markersize": 3, **style}
    line, = ax.plot(epochs, mean, label=label, **style)
    if _bimodal(group):  # runs with and without a never-predicted class: a band would show a spread no run has
        for r in group.runs:
            ax.plot(epochs, r.history[metric][:len(epochs)], color=line.get_color(), lw=0.6, alpha=0.6)
    elif len(group.runs) > 1:
        ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    if group.diverged and len(mean):
        ax.plot(epochs[-1], mean[-1], "x", color=line.get_color(), markersize=9)
    return line


def _bimodal(group: Group) -> bool:
    """Some runs of the group end with a class they never predict and some do not (the statement's ReLU head)."""
    dead = [(r.history.get("test_unpredicted") or [0])[-1] > 0 for r in group.runs]
    return any(dead) and not all(dead)


def _ylabel(metric: str) -> str:
    return "accuracy" if metric.endswith("acc") else "loss"


def plot_history(group: Group, metrics, title: str = "", logy: bool = False) -> plt.Figure:
    """Several metrics of one configuration against epochs (mean, ±1 std band over seeds)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    model = group.runs[0].config.model
    # validation and test curves often coincide: distinct dashes and markers keep each one visible
    for i, m in enumerate(metrics):
        _band(ax, group, m, metric_label(m, model), linestyle=":" if m.endswith("dropout") else STYLES[i % 3],
              marker=MARKERS[i % len(MARKERS)], markevery=max(1, len(group.curve(m)[0]) // 8), markersize=4)
    ax.set(ylabel="MSE" if model == "autoencoder" else _ylabel(metrics[0]), title=title)
    _epoch_axis(ax)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_sweep_curves(groups: dict[object, Group], param: str, metrics=("train_loss", "val_loss"),
                      title: str = "", logy: bool = False) -> plt.Figure:
    """One panel per metric; one curve per swept value on shared axes; x marks a diverged value's end."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4), sharey=len(
        {_ylabel(m) for m in metrics}) == 1)
    axes = np.atleast_1d(axes)
    model = next(iter(groups.values())).runs[0].config.model
    for ax, m in zip(axes, metrics):
        for i, (value, g) in enumerate(groups.items()):
            _band(ax, g, m, f"{param_label(param)} {value}" + (" (diverged)" if g.diverged else ""),
                  linestyle=STYLES[i % len(STYLES)])
        ax.set(ylabel=metric_label(m, model), title=metric_label(m, model))
        _epoch_axis(ax)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_arms(groups: dict[object, Group], metric: str = "test_acc", title: str = "") -> plt.Figure:
    """Final `metric` of each arm as a bar with ±1 std error bars and the individual seeds as dots."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, g in enumerate(groups.values()):
        f = g.final(metric)
        ax.bar(i, np.nanmean(f), yerr=np.nanstd(f, ddof=1) if len(f) > 1 else 0, capsize=5, alpha=0.7)
        ax.plot(np.full(len(f), i), f, "k.", markersize=6)
    ax.set_xticks(range(len(groups)), list(groups), rotation=15, ha="right")
    if metric.endswith("acc"):
        ax.set_ylim(0, 1)  # an honest axis: accuracy from 0
    ax.set(ylabel=metric_label(metric, "classifier"), title=title)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_study_figure(groups: dict[object, Group], param: str, metrics, model: str, title: str = "",
                      logy: bool = False) -> plt.Figure:
    """The study's figure as the study drew it, one row per metric: on the left its curves (eval mode, one curve per
    value, mean with a ±1 std band over seeds), on the right its final validation and test values against the swept
    value (a line for a numeric parameter, points for a categorical one). Two columns at most, so that the figure
    keeps readable text at the width of a printed page."""
    fig, axes = plt.subplots(len(metrics), 2, figsize=(9.6, 3.7 * len(metrics)), squeeze=False)
    labels = list(groups)
    numeric = _numeric(labels)
    x = np.array(labels, dtype=float) if numeric else np.arange(len(labels))
    for (ax, final_ax), m in zip(axes, metrics):
        for i, (value, g) in enumerate(groups.items()):
            _band(ax, g, m, f"{param_label(param)} {value}" + (" (diverged)" if g.diverged else ""),
                  linestyle=STYLES[i % len(STYLES)])
        ax.set(ylabel=metric_label(m, model), title=f"{metric_label(m, model)} per epoch")
        _epoch_axis(ax)
        log = logy and not m.endswith("acc")
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        _final_values(final_ax, groups, param, m, model, x, numeric, log)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _final_values(ax, groups, param: str, metric: str, model: str, x, numeric: bool, logy: bool) -> None:
    """The last epoch's validation `metric` and its test counterpart against the swept value."""
    for j, m in enumerate((metric, metric.replace("val_", "test_"))):
        finals = [g.final(m) for g in groups.values()]
        mean = np.array([np.nan if np.isnan(f).any() else f.mean() for f in finals])
        std = np.array([f.std(ddof=1) if len(f) > 1 and not np.isnan(f).any() else 0.0 for f in finals])
        offset = 0 if numeric else (j - 0.5) * 0.15
        ax.errorbar(x + offset, mean, yerr=std, marker=MARKERS[j], capsize=4, label=metric_label(m, model),
                    linestyle="-" if numeric else "none")
    for xi, g in zip(x, groups.values()):
        if g.diverged:
            ax.annotate("diverged", (xi, 0.5), xycoords=("data", "axes fraction"), rotation=90, color="red",
                        ha="center")
    if numeric and param == "lr":
        ax.set_xscale("log")
    elif numeric and param in ("n", "batch_size"):
        ax.set_xscale("log", base=2)
    # long names (the comparison's arms: pretrained-frozen-eval) side by side would overlap: one line per part
    ax.set_xticks(x, [str(v) if len(str(v)) <= 8 else str(v).replace("-", "-\n", 1) for v in groups],
                  fontsize=None if numeric else 8)
    ax.set(xlabel=param_label(param), ylabel=f"final {metric_label(metric, model).split(' ', 1)[1]}",
           title="final value (±1 std over seeds)")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def plot_reconstructions(images: torch.Tensor, recon: torch.Tensor, title: str = "") -> plt.Figure:
    """Originals (top row) above their reconstructions (bottom row)."""
    grid = make_grid(torch.cat([images, recon.clamp(0, 1)]), nrow=len(images), padding=2, pad_value=1.0)
    fig, ax = plt.subplots(figsize=(max(6, len(images) * 0.75), 2.2))
    ax.imshow(grid[0].numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_yticks([15, 45], ["original", "reconstruction"])
    ax.set_xticks([])
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_confusion(cm: np.ndarray, classes, title: str = "") -> plt.Figure:
    """Row-normalized confusion matrix as a heatmap: rows are the true class."""
    fig, ax = plt.subplots(figsize=(7.5, 6.2))
    sns.heatmap(cm, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, square=True, ax=ax,
                xticklabels=classes, yticklabels=classes, annot_kws={"size": 7}, cbar_kws={"shrink": 0.8})
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    return fig

VERDICT_COLORS = {"supported": "#1a7f37", "contradicted": "#cf222e", "no practical difference": "#8250df",
                  "inconclusive": "#6e7781", "mixed": "#bf8700", "premise absent": "#0969da",
                  "direction only (1 seed)": "#6e7781"}


def plot_forest(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Forest plot of a claims table: one line per row, the effect and its 95% interval relative to the reference
    (in %, symlog beyond ±5%), the margin of practical equivalence shaded, each coloured by its verdict."""
    rows = table.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(rows) + 1.6))
    ys = np.arange(len(rows))[::-1]
    edge = 400.0  # % where an unbounded interval is drawn to, with an arrow
    for y, (_, r) in zip(ys, rows.iterrows()):
        ref = abs(r.reference) or 1.0
        color = VERDICT_COLORS.get(r.verdict, "black")
        margin = 100 * r.margin / ref
        ax.fill_betweenx([y - 0.4, y + 0.4], -margin, margin, color="#d0d7de", lw=0)
        est = 100 * r.estimate / ref
        low, high = (np.clip(100 * v / ref, -edge, edge) if np.isfinite(v) else np.sign(v) * edge
                     for v in (r.low, r.high))
        ax.plot([low, high], [y, y], color=color, lw=2)
        for end, v in ((low, r.low), (high, r.high)):
            if not np.isfinite(v):
                ax.annotate("", (end, y), (end - np.sign(end) * 1, y), arrowprops=dict(arrowstyle="->", color=color))
        ax.plot([np.clip(est, -edge, edge)], [y], "o", color=color, ms=5)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xscale("symlog", linthresh=5, linscale=1.5)
    ax.set_xlim(-edge, edge)
    ticks = [-300, -100, -30, -10, -5, 0, 5, 10, 30, 100, 300]
    ax.set_xticks(ticks, [f"{t:+d}%" if t else "0" for t in ticks], fontsize=7)
    ax.set_yticks(ys, [f"{r.figure}: {_short(r.claim)}" + ("" if r.family == "statement" else " [plain logits]")
                       for _, r in rows.iterrows()], fontsize=7)
    ax.set_ylim(-0.8, len(rows) - 0.2)
    ax.set_xlabel("effect relative to the reference, % (fractions and shares: points); grey: the margin of practical "
                  "equivalence", fontsize=8)
    handles = [plt.Line2D([], [], color=c, lw=2, label=v) for v, c in VERDICT_COLORS.items()
               if v in set(rows.verdict)]
    ax.legend(handles=handles, fontsize=7, loc="lower right", frameon=True)
    ax.set_title(title or "Forest plot of the study's conclusions", fontsize=10)
    fig.tight_layout()
    return fig


def _short(text: str, width: int = 52) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
