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


from . import claims, plots, provenance, summary
from .cache import is_cached, load, stale_runs
from .config import ConfigError, get_profile
from .data import CLASSES, load_fashion_mnist
from .paths import README, ROOT, published_dir
from .plan import all_configs
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
    """The README block: the answer in plain sentences, every conclusion with its effect, interval and verdict under
    both heads, the arms in words, how much of the plan is published and which machines trained it (`runs`: every
    published run of the profile; default: the runs of `results`' groups), the figures, the report link."""
    lines = []
    if len(table):
        lines += [summary.bottom_line(table), "",
                  "| fig. | the study's conclusion | effect (95% CI) | seeds | verdict: statement's head | "
                  "verdict: plain logits |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['fig.']} | {r.conclusion} | {r['effect (95% CI)']} | {r.seeds} | "
                  f"{r.iloc[5]} | {r.iloc[6]} |" for _, r in summary.side_by_side(table).iterrows()]
        lines += ["", f"The arms: {summary.ARMS_IN_WORDS}. {summary.METHOD}"]
    done = sum(1 for c in all_configs(profile) if is_cached(c, root))
    total = len(all_configs(profile))
    status = (f"Profile `{profile}`: {done} of {total} planned runs published"
              + ("." if done == total else f"; the other {total - done} are not trained yet, and each row above uses "
                                            "the seeds published."))
    table_of_runs = provenance.runs_table(runs if runs is not None else results)
    if len(table_of_runs):
        mixed = provenance.mixed_machines(results)
        counts = provenance.machine_counts(table_of_runs)
        kinds = (f"on {next(iter(counts))}" if len(counts) == 1 else
                 "on several kinds of machine (" + "; ".join(f"{n} on {k}" for k, n in counts.items()) + ")")
        status += (f" They trained {kinds}: {table_of_runs.seconds.sum() / 3600:.1f} h, summed over runs. "
                   + (f"{len(mixed)} setting(s) mix kinds of machine across their seeds (the report names them)."
                      if mixed else "No setting mixes kinds of machine across its seeds."))
    again = len(stale_runs(all_configs(profile), root))
    if again:
        status += (f" {again} of the published runs are being trained again: no commit reproduces them (trained from "
                   f"a tree with uncommitted changes), or the autoencoder they start from (docs/store.md).")
    lines += ["", status]
    lines += [""] + [f"![{Path(f).stem}]({f})" for f in figures]
    out = published_dir(profile)
    if (out / "report.html").exists():
        report, pdf, runs_csv = (_link(out / name) for name in ("report.html", "report.pdf", "runs.csv"))
        lines += ["", f"The full report: [{report}]({report}) ([PDF]({pdf})), every run in [{runs_csv}]({runs_csv})."]
    return "\n".join(lines)


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
