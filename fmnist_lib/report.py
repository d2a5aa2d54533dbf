"""Building blocks of the summary report: each returns or shows what a notebook cell displays (figures, sentences,
tables)."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
from IPython.display import Markdown, display

from . import narrate, plots
from .plan import get_sweep


def styled(df: pd.DataFrame, **formats):
    """A table for the report: no index column, text and headers left-aligned, `formats` per column, '–' for NaN.
    The table's id is a hash of its content and formats (pandas would give each a random id), so the same runs
    render the same HTML whatever was drawn before, and a re-rendered report diffs only where its numbers do."""
    content = df.to_json(orient="split", default_handler=str) + repr(sorted(formats.items()))
    uuid = "table-" + hashlib.sha256(content.encode()).hexdigest()[:12]
    # on a narrow screen the page stacks each row (render.SCREEN_CSS): each cell is then led by its column's name
    # (a table of two columns, name and value, needs none), and a verdict comes first
    labels = [{"selector": f"td.col{i}::before", "props": [("content", json.dumps(f"{name}: ", ensure_ascii=False))]}
              for i, name in enumerate(df.columns) if len(df.columns) > 2]
    first = [{"selector": f"td.col{i}", "props": [("order", "-1")]} for i, name in enumerate(df.columns)
             if name == "verdict"]
    return (df.style.set_uuid(uuid).hide(axis="index").format(formats, na_rep="–")
            .set_properties(**{"text-align": "left"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}] + labels + first))


def show(fig, text: str = "") -> None:
    """Display a figure in the notebook, then `text` (markdown) under it; the figure is closed, so it is drawn once."""
    if fig is not None:
        display(fig)
        plots.plt.close(fig)
    if text:
        display(Markdown(text))


def sweep_figure(name: str, groups: dict | None):
    """(figure, sentence) of the sweep `name` as the study drew its figure, from the sweep's groups; (None, note)
    when its runs are missing (groups None)."""
    spec = get_sweep(name)
    if groups is None:
        return None, f"*Figure {spec.figure} ({name}) left out: runs missing.*"
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
