"""The README's answer block is what the published store gives (the run cache of this machine plays no part)."""

import html
import re

import numpy as np
import pytest

from fmnist_lib import answer, claims, summary
from fmnist_lib.config import Config
from fmnist_lib.results import Group
from fmnist_lib.train import RunResult

from .conftest import ROOT


@pytest.mark.slow  # reads the real test labels for the confusion rows
def test_readme_answer_block_matches_the_published_store():
    if not (ROOT / "reports" / "full" / "store").is_dir():
        pytest.skip("reports/full/store does not exist yet: nothing of the full profile published")
    assert answer.readme_block() == answer.expected_block("full"), (
        "README.md's answer block is stale: run `.venv/bin/python -m fmnist_lib.answer full` after `make publish`")


@pytest.mark.slow  # reads the real test labels for the confusion rows
def test_committed_report_states_what_the_published_store_gives():
    report = ROOT / "reports" / "full" / "report.html"
    if not report.exists():
        pytest.skip("reports/full/report.html does not exist yet")
    _, table = answer._results("full")

    def text(fragment):
        return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()

    rows = [[text(td.split(">", 1)[-1]) for td in tr.split("</tr>")[0].split("<td")[1:]]
            for tr in report.read_text().split("<tr")[1:]]
    main = table[table.family == "statement"]
    assert f"The study draws {len(main)} testable conclusions" in text(report.read_text()), (
        "reports/full/report.html is stale: it tests another number of conclusions than the published store gives")
    for _, r in summary.side_by_side(table).iterrows():
        found = [cells for cells in rows if cells and r.conclusion in cells and r["effect (95% CI)"] in cells]
        assert found and found[0][-2:] == [r.iloc[5], r.iloc[6]], (
            f"reports/full/report.html is stale: fig. {r['fig.']} '{r.conclusion}' should read "
            f"'{r['effect (95% CI)']}' -> {r.iloc[5]} / {r.iloc[6]}; run `make summary PROFILE=full` after "
            "`make publish`")


def test_replace_block_needs_the_markers():
    text = f"a\n{answer.START}\nold\n{answer.END}\nb"
    assert answer.replace_block(text, "new") == f"a\n{answer.START}\nnew\n{answer.END}\nb"
    with pytest.raises(ValueError, match="markers"):
        answer.replace_block("no markers", "new")


def _run(seed, cpu):
    meta = {"device": "cpu", "cpu": cpu, "cpu_capability": "AVX2", "torch": "2.14.1", "wall_seconds": 1800.0,
            "epochs_run": 2, "threads": 1, "commit": "abc1234"}
    return RunResult(Config(seed=seed), {"test_loss": [0.05, 0.04 + seed / 1000]}, "ok", state={}, meta=meta)


def _claims():
    """A real claims table of made-up runs: n = 16 clearly worse than the 10-seed baseline."""
    rng = np.random.default_rng(0)
    base = [RunResult(Config(seed=s), {k: [0.06, 0.04 + rng.normal(0, 5e-4)] for k in
                                       ("val_loss", "train_eval_loss", "test_loss")}, "ok", {}, {}) for s in range(10)]
    n16 = [RunResult(Config(seed=s, n=16), {k: [0.07, 0.05 + rng.normal(0, 5e-4)] for k in
                                            ("val_loss", "train_eval_loss", "test_loss")}, "ok", {}, {})
           for s in range(5)]
    return claims.evaluate_claims({"baseline": {"baseline": Group("baseline", base)},
                                   "autoencoder-n": {16: Group(16, n16), 64: Group(64, base[:5])}})


CLAIMS = _claims()


def test_headline_opens_with_sentences_then_a_verdict_table_with_effects():
    same = {"baseline": {"baseline": Group("baseline", [_run(0, "AMD EPYC"), _run(1, "AMD EPYC")])}}
    lines = answer.headline("smoke", same, CLAIMS, []).splitlines()
    assert lines[0].startswith("The study draws 3 testable conclusions from its figures")
    assert lines[0].endswith("2 supported, 1 no practical difference.")  # the gap does not grow: all seeds equal
    assert lines[2].startswith("**What holds**: n = 16 is too small (worse than n = 64) (fig. 4)")
    header = [x for x in lines if x.startswith("| fig. |")]
    assert header == ["| fig. | the study's conclusion | effect (95% CI) | seeds | verdict: statement's head | "
                      "verdict: plain logits |"]
    row = next(x for x in lines if x.startswith("| 4 | n = 16 is too small"))
    assert "validation loss (95% CI" in row and row.endswith("| 10 vs 5 | supported | — |")
    assert any(x.startswith("The arms: *scratch*") for x in lines)


def test_headline_says_which_machines_trained_the_runs_and_which_settings_mix_them():
    same = {"baseline": {"baseline": Group("baseline", [_run(0, "AMD EPYC"), _run(1, "AMD EPYC")])}}
    text = answer.headline("smoke", same, CLAIMS, [])
    assert "They trained on cpu, AMD EPYC (AVX2), torch 2.14.1: 1.0 h, summed over runs" in text
    assert "No setting mixes kinds of machine" in text
    # every published run counts, also an encoder that no group of the report shows
    text = answer.headline("smoke", same, CLAIMS, [], runs=[_run(0, "AMD EPYC"), _run(1, "AMD EPYC"),
                                                            _run(2, "Intel Xeon")])
    assert "They trained on several kinds of machine (2 on cpu, AMD EPYC (AVX2), torch 2.14.1; " \
           "1 on cpu, Intel Xeon (AVX2), torch 2.14.1): 1.5 h" in text

    mixed = {"baseline": {"baseline": Group("baseline", [_run(0, "AMD EPYC"), _run(1, "Intel Xeon")])}}
    text = answer.headline("smoke", mixed, CLAIMS, [])
    assert "1 setting(s) mix kinds of machine across their seeds (the report names them)" in text
