"""The answer where readers look first: the README's headline block and its figures, computed from the published runs.

`python -m fmnist_lib.answer [PROFILE]` rewrites the block between the README's answer markers and the PNG figures
under reports/<profile>/figures/, from the run cache and the published store (experiments left out for missing runs
are named). A test checks that the README's block is what the published store gives.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

from . import claims, plots, provenance
from .cache import is_cached, load
from .config import ConfigError, get_profile
from .data import CLASSES, load_fashion_mnist
from .metrics import mean_std
from .paths import README, ROOT, published_dir
from .plan import all_configs, report_plan
from .results import report_groups

START, END = "<!-- answer:start -->", "<!-- answer:end -->"
FIGURES = ("arms.png", "autoencoder.png")


def _results(profile: str, root: Path | None = None):
    p = get_profile(profile)
    groups = report_groups(profile, partial=True, root=root)
    labels = load_fashion_mnist(p.train_size, p.eval_size).test.y.numpy()
    return groups, claims.evaluate_claims(groups, labels=labels, classes=CLASSES)


def _link(path: Path) -> str:
    """A path as the README links it: from the repository root."""
    return str(path.relative_to(ROOT))


def expected_block(profile: str, root: Path | None = None) -> str:
    """The block the README should hold now, from the published runs (figures as already drawn); `root`: a run
    cache to read before the store (default runs_dir())."""
    results, table = _results(profile, root)
    figures = [_link(published_dir(profile) / "figures" / name) for name in FIGURES
               if (published_dir(profile) / "figures" / name).exists()]
    return headline(profile, results, table, figures, published_runs(profile, root), root)


def readme_block() -> str:
    text = README.read_text()
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def headline(profile: str, results: dict, table, figures: list[str], runs: list | None = None,
             root: Path | None = None) -> str:
    """The README block: how many runs are published and which machines trained them (`runs`: every published run
    of the profile; default: the runs of `results`' groups), the headline numbers, every conclusion with what was
    measured, Holm's p and its verdict, the figures, the report link."""
    plan = report_plan(profile)
    done = sum(1 for c in all_configs(profile) if is_cached(c, root))
    total = len(all_configs(profile))
    lines = [f"Profile `{profile}`: {done} of {total} runs published"
             + ("." if done == total else "; experiments still training: "
                + ", ".join(n for n in plan if n not in results) + ".")]
    table_of_runs = provenance.runs_table(runs if runs is not None else results)
    if len(table_of_runs):
        mixed = provenance.mixed_machines(results)
        counts = provenance.machine_counts(table_of_runs)
        kinds = (f"on {next(iter(counts))}" if len(counts) == 1 else
                 "on several kinds of machine (" + "; ".join(f"{n} on {k}" for k, n in counts.items()) + ")")
        lines.append(f"{'All' if runs is not None else 'The'} {len(table_of_runs)} published runs trained {kinds}: "
                     f"{table_of_runs.seconds.sum() / 3600:.1f} h of training, summed over runs. "
                     + (f"{len(mixed)} setting(s) mix kinds of machine across their seeds (the report names them)."
                        if mixed else "No setting mixes kinds of machine across its seeds."))
    if "baseline" in results:
        base = results["baseline"]["baseline"]
        lines.append(f"- Autoencoder (n = 64, p = 0.2, {base.runs[0].config.epochs} epochs): test MSE "
                     f"{mean_std(base.final('test_loss'))} over {len(base.runs)} seeds.")
    if "arms" in results:
        arms = results["arms"]
        accs = "; ".join(f"{name} {mean_std(g.final('test_acc'))}" for name, g in arms.items())
        lines.append(f"- Classifiers, test accuracy over {len(next(iter(arms.values())).runs)} seeds: {accs}.")
    if "heads" in results:
        heads = {k: g for k, g in results["heads"].items() if "linear" in k}
        silent = sum((r.history.get("test_unpredicted") or [0])[-1] > 0 for k, g in results["heads"].items()
                     if "relu" in k for r in g.runs)
        total = sum(len(g.runs) for k, g in results["heads"].items() if "relu" in k)
        lines.append("- The same arms with plain logits instead of the statement's ReLU · Dropout on the outputs: "
                     + "; ".join(f"{k.split(' / ')[0]} {mean_std(g.final('test_acc'))}" for k, g in heads.items())
                     + f". With the statement's head, {silent} of {total} runs never predict at least one class.")
    if len(table):
        lines += ["", claims.bottom_line(table).split("\n\n")[0].rstrip(".") + " (Holm's correction over the "
                  "family; the rules and tests are in the report).",
                  "", "| fig. | the study's conclusion | measured | p (Holm) | verdict |", "|---|---|---|---|---|"]
        lines += [f"| {r.figure} | {r.claim} | {r.measured} | {_p(r['p (Holm)'])} | {r.verdict} |"
                  for _, r in table.iterrows()]
    lines += [""] + [f"![{Path(f).stem}]({f})" for f in figures]
    out = published_dir(profile)
    if (out / "report.html").exists():
        report, pdf, runs_csv = (_link(out / name) for name in ("report.html", "report.pdf", "runs.csv"))
        lines += ["", f"The full report: [{report}]({report}) ([PDF]({pdf})), every run in [{runs_csv}]({runs_csv})."]
    return "\n".join(lines)


def _p(value) -> str:
    """A p-value as the report prints it: two significant digits, "–" where there is none (a rule decides, or one
    seed cannot be tested)."""
    try:
        return "–" if value is None or pd.isna(value) else f"{float(value):.2g}"
    except (TypeError, ValueError):
        return str(value)


def published_runs(profile: str, root: Path | None = None) -> list:
    """Every run of the profile's plan that the run cache (at `root`, default runs_dir()) or the store holds."""
    return [load(c, root) for c in all_configs(profile) if is_cached(c, root)]


def draw_figures(profile: str, results: dict) -> list[str]:
    """PNG figures for the README: the comparison's arms, and the autoencoder's curves."""
    out = published_dir(profile) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    made = []
    if "arms" in results:
        fig = plots.plot_arms(results["arms"], "test_acc", title="Test accuracy of the classifier arms "
                                                                 "(bars: mean; dots: seeds)")
        fig.savefig(out / "arms.png", dpi=90)
        plots.plt.close(fig)
        made.append(_link(out / "arms.png"))
    if "baseline" in results:
        fig = plots.plot_history(results["baseline"]["baseline"], ["train_loss", "val_loss", "test_loss",
                                                                   "test_loss_dropout"],
                                 title="Autoencoder MSE per epoch (mean ± std over seeds)")
        fig.savefig(out / "autoencoder.png", dpi=90)
        plots.plt.close(fig)
        made.append(_link(out / "autoencoder.png"))
    return made


def replace_block(text: str, block: str) -> str:
    """The README text with the block between the answer markers replaced; ValueError without the markers."""
    if START not in text or END not in text:
        raise ValueError(f"README.md lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}\n{END}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmnist_lib.answer", description=__doc__.splitlines()[0])
    parser.add_argument("profile", nargs="?", default="full")
    args = parser.parse_args(argv)
    try:
        get_profile(args.profile)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # the published runs only: a run cache of this machine must not leak into what every clone shows
    with tempfile.TemporaryDirectory(prefix="fmnist-empty-runs-") as empty:
        results, table = _results(args.profile, Path(empty))
        figures = draw_figures(args.profile, results)
        block = headline(args.profile, results, table, figures, published_runs(args.profile, Path(empty)),
                         Path(empty))
    text = replace_block(README.read_text(), block)
    tmp = README.with_suffix(".md.part")
    tmp.write_text(text)
    tmp.replace(README)
    print(f"README.md: answer block rewritten from {sum(len(g) for g in results.values())} groups; figures: "
          + ", ".join(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
