"""Building blocks of the summary report: each returns what a notebook cell displays (figures, sentences, tables)."""

from __future__ import annotations

import itertools

import pandas as pd

from . import narrate, plots
from .experiments import SWEEPS


_TABLES = itertools.count(1)


def styled(df: pd.DataFrame, **formats):
    """A table for the report: no index column, text and headers left-aligned, `formats` per column, '–' for NaN.
    Tables are numbered in the order a notebook draws them (pandas would give each a random id), so the same runs
    render the same HTML and a re-rendered report diffs only where its numbers do."""
    return (df.style.set_uuid(f"table{next(_TABLES)}").hide(axis="index").format(formats, na_rep="–")
            .set_properties(**{"text-align": "left"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}]))


def sweep_figure(results: dict, name: str):
    """(figure, sentence) of one of the study's sweep figures as the study drew it; (None, note) when its runs are
    missing."""
    spec = SWEEPS[name]
    if name not in results:
        return None, f"*Figure {spec.figure} ({name}) left out: runs missing.*"
    groups = results[name]
    metrics = ["val_loss", "val_acc"] if spec.model == "classifier" else ["val_loss"]
    title = f"Figure {spec.figure}. {spec.model.capitalize()}: {plots.param_label(spec.param)}"
    fig = plots.plot_study_figure(groups, spec.param, metrics, spec.model, title=title,
                                  logy=spec.model == "autoencoder")
    metric, test_metric, higher = spec.metrics
    caption = (f"**Figure {spec.figure}.** {spec.model.capitalize()}, {plots.param_label(spec.param)}: "
               + " and ".join(plots.metric_label(m, spec.model) for m in metrics)
               + " per epoch (eval mode, mean ± std over seeds), and the final values. ")
    silent = narrate.silent_classes_text(groups, spec.param)
    return fig, caption + narrate.sweep_text(groups, spec.param, metric, higher, test_metric) + \
        (f"\n\n{silent}" if silent else "")
