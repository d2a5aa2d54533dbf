"""The answer in words and tables, read off the claims table (fmnist_lib.claims.evaluate_claims): the bottom line,
every conclusion with its verdict under both heads side by side, what changed since the publication tagged full-v1,
and the method in a paragraph. The report and the README's answer block both use these."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd

from . import stats
from .paths import ROOT

THEN = ROOT / "reports" / "full" / "verdicts-v1.csv"  # the verdicts published at the tag full-v1
FAILED = (stats.CONTRADICTED, stats.NO_DIFFERENCE, stats.PREMISE_ABSENT)
UNDECIDED = (stats.INCONCLUSIVE, stats.MIXED, stats.ONE_SEED)
ARMS_IN_WORDS = ("*scratch*: the classifier's encoder trained with its head; *pretrained-frozen*: the autoencoder's "
                 "encoder, frozen (the study's two arms); *random-frozen*: an untrained encoder, frozen; "
                 "*pretrained-finetune*: the autoencoder's encoder, trained further")
METHOD = (
    "Each conclusion is a row: its effect in the metric's unit with a 95% interval, a two-sided permutation test "
    "(exact up to 200,000 relabelings, e.g. 10 vs 10 seeds; else 20,000 random ones), and the interval of effects "
    "that test does not reject. A setting shared by several experiments brings every seed it has. Holm's correction "
    "runs within each of two families: the study as stated (autoencoder rows and classifier rows with the "
    "statement's head) and the same classifier rows with plain logits. An interval inside the row's margin of "
    "practical equivalence means no practical difference. The plan, fixed before the new seeds were read: "
    "docs/analysis.md.")


def _counts(rows: pd.DataFrame) -> str:
    counts = rows.verdict.value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in stats.VERDICTS if v in counts)


def _claims(rows: pd.DataFrame) -> str:
    return "; ".join(f"{c} (fig. {f})" for c, f in zip(rows.claim, rows.figure))


def head_dependent(table: pd.DataFrame) -> pd.DataFrame:
    """The classifier conclusions whose verdict differs between the statement's head and plain logits: claim,
    figure, verdict (the statement's head), plain (plain logits)."""
    main = table[table.family == "statement"][["claim", "figure", "verdict"]]
    plain = table[table.family == "plain logits"][["claim", "verdict"]].rename(columns={"verdict": "plain"})
    both = main.merge(plain, on="claim")
    return both[both.verdict != both.plain]


def bottom_line(table: pd.DataFrame) -> str:
    """The answer in plain sentences: what holds, what does not, what is undecided, what the head decides."""
    main = table[table.family == "statement"]
    held, failed = main[main.verdict.isin([stats.SUPPORTED])], main[main.verdict.isin(FAILED)]
    open_ = main[main.verdict.isin(UNDECIDED)]
    lines = [f"The study draws {len(main)} testable conclusions from its figures; as stated (the statement's head "
             f"on the classifiers), the published runs give: {_counts(main)}."]
    if len(held):
        lines.append("**What holds**: " + _claims(held) + ".")
    if len(failed):
        lines.append("**What does not**: " + "; ".join(f"{c} (fig. {f}: {v})" for c, f, v in
                                                      zip(failed.claim, failed.figure, failed.verdict)) + ".")
    if len(open_):
        lines.append("**Not settled by these runs**: " + _claims(open_) + ".")
    moved = head_dependent(table)
    if len(moved):
        lines.append("**What the head decides**: the statement puts ReLU and dropout on the 10 logits, which leaves "
                     "some runs never predicting a class. With plain logits: " + "; ".join(
                         f"“{c}” (fig. {f}) is {p} instead of {s}" for c, f, s, p in
                         zip(moved.claim, moved.figure, moved.verdict, moved.plain)) + ".")
    return "\n\n".join(lines)


def side_by_side(table: pd.DataFrame) -> pd.DataFrame:
    """One line per conclusion: its effect and verdict under the statement's head and, for a classifier row, under
    plain logits; the best-epoch verdict where it differs, and the seeds an undecided row needs."""
    main = table[table.family == "statement"].reset_index(drop=True)
    plain = table[table.family == "plain logits"].set_index("claim")
    rows = []
    for _, r in main.iterrows():
        p = plain.loc[r.claim] if r.claim in plain.index else None
        rows.append({
            "fig.": r.figure, "conclusion": r.claim, "effect (95% CI)": r.effect, "seeds": r.seeds,
            "p (Holm)": p_text(r["p (Holm)"]), "the statement's head": r.verdict + _flags(r),
            "plain logits": "—" if p is None else p.verdict + _flags(p),
        })
    return pd.DataFrame(rows)


def _flags(r) -> str:
    out = ""
    if r["at best epoch"]:
        out += f" (at each run's best epoch: {r['at best epoch']})"
    if r["seeds needed"] is not None and not pd.isna(r["seeds needed"]):
        n = int(r["seeds needed"])
        pct = f"{stats.POWER:.0%}"
        chance = f"give {'an' if pct.startswith(('8', '11', '18')) else 'a'} {pct} chance to settle it"  # an 80%
        out += (f" (about {n} seeds per setting {chance})" if n < stats.SEEDS_LIMIT else
                f" (not even {stats.SEEDS_LIMIT} seeds per setting {chance})")
    return out


def p_text(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:.2g}" if value >= 0.001 else f"{value:.1e}"


def then_and_now(table: pd.DataFrame, moved: dict) -> pd.DataFrame:
    """One row per conclusion published at full-v1: its verdict then and now (the statement's head), and what changed
    in its test. `moved`: {earlier wording: (today's wording or None if unchanged, '' if dropped; what changed)}."""
    now = table[table.family == "statement"].set_index("claim")
    rows = []
    for old in csv.DictReader(THEN.open()):
        claim, why = moved.get(old["claim"], (None, ""))
        claim = old["claim"] if claim is None else claim
        verdict = "(dropped)" if claim == "" else now.verdict.get(claim, "(not measured yet)")
        rows.append({"fig.": old["figure"], "conclusion": claim or old["claim"], "then": old["verdict"],
                     "now": verdict, "what changed": why})
    return pd.DataFrame(rows)


def smallest_p_text(table: pd.DataFrame) -> str:
    """Which rows cannot reach their Holm level at all with the seeds they have (their smallest p is too large)."""
    m = table.groupby("family").size().to_dict()
    stuck = table[[row["smallest p"] >= stats.ALPHA / m[row.family] for _, row in table.iterrows()]]
    stuck = stuck[stuck.verdict.isin(UNDECIDED)]
    if not len(stuck):
        return ("Every row's test can reach the level Holm asks of its family's first row (α / rows), so a clear "
                "effect can come out supported.")
    return (f"{len(stuck)} undecided row(s) cannot reach α / (rows in the family) with the seeds published so far "
            "(their smallest possible p is above it): " + "; ".join(
                f"{c} ({s}, smallest p {p_text(p)})" for c, s, p in zip(stuck.claim, stuck.seeds,
                                                                       stuck["smallest p"])) + ".")


def forest_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows the forest plot draws: every row with a finite estimate."""
    return table[np.isfinite(table.estimate.astype(float))]


PLAN_COMMIT = "44f167f"  # the commit of docs/analysis.md and fmnist_lib/stats.py, before any new seed was read


def plan_text() -> str:
    return (f"The analysis plan (the tests, margins, families and verdict words) was committed as {PLAN_COMMIT}, "
            "before any of the seeds added after the publication full-v1 was read.")
