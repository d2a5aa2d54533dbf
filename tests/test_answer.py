"""The README's answer block is what the published store gives (the run cache of this machine plays no part)."""

import html
import re

import pandas as pd
import pytest

from fmnist_lib import answer
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
    assert f"Of the study's {len(table)} tested conclusions" in text(report.read_text()), (
        "reports/full/report.html is stale: it tests another number of conclusions than the published store gives")
    for _, claim in table.iterrows():
        found = [cells for cells in rows if cells and claim.claim in cells and text(claim.measured) in cells]
        assert found and found[0][-1] == claim.verdict and found[0][-2] == answer._p(claim["p (Holm)"]), (
            f"reports/full/report.html is stale: fig. {claim.figure} '{claim.claim}' should read "
            f"'{claim.measured}', Holm's p {answer._p(claim['p (Holm)'])} -> {claim.verdict}; "
            "run `make summary PROFILE=full` after `make publish`")


def test_replace_block_needs_the_markers():
    text = f"a\n{answer.START}\nold\n{answer.END}\nb"
    assert answer.replace_block(text, "new") == f"a\n{answer.START}\nnew\n{answer.END}\nb"
    with pytest.raises(ValueError, match="markers"):
        answer.replace_block("no markers", "new")


def _run(seed, cpu):
    meta = {"device": "cpu", "cpu": cpu, "cpu_capability": "AVX2", "torch": "2.14.1", "wall_seconds": 1800.0,
            "epochs_run": 2, "threads": 1, "commit": "abc1234"}
    return RunResult(Config(seed=seed), {"test_loss": [0.05, 0.04 + seed / 1000]}, "ok", state={}, meta=meta)


CLAIMS = pd.DataFrame([
    {"figure": "4", "claim": "Loss falls as n grows", "measured": "slope -0.0058", "p (Holm)": 2.8e-08,
     "verdict": "supported"},
    {"figure": "2", "claim": "ReLU fails", "measured": "holds in 2 of 3 seeds", "p (Holm)": float("nan"),
     "verdict": "mixed"}])


def test_headline_gives_each_verdict_with_its_evidence_and_holms_p():
    same = {"baseline": {"baseline": Group("baseline", [_run(0, "AMD EPYC"), _run(1, "AMD EPYC")])}}
    lines = answer.headline("smoke", same, CLAIMS, []).splitlines()
    assert "| fig. | the study's conclusion | measured | p (Holm) | verdict |" in lines
    assert "Of the study's 2 tested conclusions: 1 supported, 1 mixed (Holm's correction over the family; the " \
           "rules and tests are in the report)." in lines
    assert "| 4 | Loss falls as n grows | slope -0.0058 | 2.8e-08 | supported |" in lines
    assert "| 2 | ReLU fails | holds in 2 of 3 seeds | – | mixed |" in lines
    assert answer._p(None) == answer._p(pd.NA) == "–" and answer._p(0.0571) == "0.057"


def test_headline_says_which_machines_trained_the_runs_and_which_settings_mix_them():
    same = {"baseline": {"baseline": Group("baseline", [_run(0, "AMD EPYC"), _run(1, "AMD EPYC")])}}
    text = answer.headline("smoke", same, CLAIMS, [])
    assert "The 2 published runs trained on cpu, AMD EPYC (AVX2), torch 2.14.1: 1.0 h of training" in text
    assert "No setting mixes kinds of machine" in text and "test MSE 0.0405 ± 0.0007 over 2 seeds" in text
    # every published run counts, also an encoder that no group of the report shows
    text = answer.headline("smoke", same, CLAIMS, [], runs=[_run(0, "AMD EPYC"), _run(1, "AMD EPYC"),
                                                            _run(2, "Intel Xeon")])
    assert "All 3 published runs trained on several kinds of machine (2 on cpu, AMD EPYC (AVX2), torch 2.14.1; " \
           "1 on cpu, Intel Xeon (AVX2), torch 2.14.1): 1.5 h" in text

    mixed = {"baseline": {"baseline": Group("baseline", [_run(0, "AMD EPYC"), _run(1, "Intel Xeon")])}}
    text = answer.headline("smoke", mixed, CLAIMS, [])
    assert "1 setting(s) mix kinds of machine across their seeds (the report names them)" in text
