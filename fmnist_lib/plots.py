"""Figures from results: each function takes results and returns a matplotlib Figure; nothing trains here."""

from __future__ import annotations

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://", "nbagg")):
    matplotlib.use("Agg")  # scripts and tests draw off-screen; notebooks keep their inline backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from .experiments import Group  # noqa: E402

NAMES = {"train_loss": "train", "val_loss": "validation", "test_loss": "test",
         "test_loss_dropout": "test, dropout on (the study's way)", "val_acc": "validation", "test_acc": "test"}


def _band(ax, group: Group, metric: str, label: str, **style):
    mean, std = group.curve(metric)
    epochs = np.arange(1, len(mean) + 1)
    line, = ax.plot(epochs, mean, label=label, marker="o" if len(mean) <= 12 else None, markersize=3, **style)
    if len(group.runs) > 1:
        ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    if group.diverged and len(mean):
        ax.plot(epochs[-1], mean[-1], "x", color=line.get_color(), markersize=9)
    return line


def _ylabel(metric: str) -> str:
    return "accuracy" if metric.endswith("acc") else "loss"


def plot_history(group: Group, metrics, title: str = "", logy: bool = False) -> plt.Figure:
    """Several metrics of one configuration against epochs (mean, ±1 std band over seeds)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for m in metrics:
        _band(ax, group, m, NAMES.get(m, m), linestyle=":" if m.endswith("dropout") else "-")
    ax.set(xlabel="epoch", ylabel=_ylabel(metrics[0]), title=title)
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
    for ax, m in zip(axes, metrics):
        for value, g in groups.items():
            _band(ax, g, m, f"{param}={value}" + (" (diverged)" if g.diverged else ""))
        ax.set(xlabel="epoch", ylabel=_ylabel(m), title=NAMES.get(m, m))
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_final(groups: dict[object, Group], param: str, metrics=("val_loss", "test_loss"),
               title: str = "") -> plt.Figure:
    """Final value of each metric against the swept value, mean with ±1 std error bars over seeds."""
    labels = list(groups)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in labels)
    x = np.array(labels, dtype=float) if numeric else np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in metrics:
        finals = [g.final(m) for g in groups.values()]
        mean = np.array([f.mean() for f in finals])
        std = np.array([f.std(ddof=1) if len(f) > 1 else 0.0 for f in finals])
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=4, label=NAMES.get(m, m))
    for xi, g in zip(x, groups.values()):
        if g.diverged:
            ax.axvline(xi, color="red", alpha=0.3, linestyle="--")
            ax.annotate("diverged", (xi, 0.5), xycoords=("data", "axes fraction"), rotation=90, color="red")
    if numeric and param in ("lr",):
        ax.set_xscale("log")
    elif numeric and param in ("n", "batch_size"):
        ax.set_xscale("log", base=2)
    if not numeric:
        ax.set_xticks(x, [str(v) for v in labels])
    ax.set(xlabel=param, ylabel=_ylabel(metrics[0]), title=title or f"final {_ylabel(metrics[0])} against {param}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_arms(groups: dict[object, Group], metric: str = "test_acc", title: str = "") -> plt.Figure:
    """Final `metric` of each arm as a bar with ±1 std error bars and the individual seeds as dots."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, g in enumerate(groups.values()):
        f = g.final(metric)
        ax.bar(i, np.nanmean(f), yerr=np.nanstd(f, ddof=1) if len(f) > 1 else 0, capsize=5, alpha=0.7)
        ax.plot(np.full(len(f), i), f, "k.", markersize=6)
    ax.set_xticks(range(len(groups)), list(groups), rotation=15)
    lo = np.nanmin([np.nanmin(g.final(metric)) for g in groups.values()])
    ax.set_ylim(max(0.0, lo - 0.05), None)
    ax.set(ylabel=NAMES.get(metric, metric) + (" accuracy" if metric.endswith("acc") else ""), title=title)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


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
