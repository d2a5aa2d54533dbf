"""The answer's words and tables, read off a claims table: what the head decides, and what changed since full-v1."""

import pandas as pd

from fmnist_lib import claims, stats, summary


def table(rows):
    base = {"figure": "7, 8", "effect": "+0.1 test accuracy", "seeds": "10 vs 10", "p (Holm)": 0.001,
            "at best epoch": "", "seeds needed": None}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_the_bottom_line_names_what_holds_what_fails_and_what_the_head_decides():
    t = table([
        {"claim": "scratch beats frozen", "family": "statement", "verdict": "inconclusive"},
        {"claim": "scratch beats frozen", "family": "plain logits", "verdict": "supported"},
        {"claim": "n = 16 is too small", "figure": "4", "family": "statement", "verdict": "no practical difference"},
    ])
    text = summary.bottom_line(t)
    assert text.startswith("The study draws 2 testable conclusions")
    assert "**What does not**: n = 16 is too small (fig. 4: no practical difference)." in text
    assert "With plain logits: “scratch beats frozen” (fig. 7, 8) is supported instead of inconclusive." in text
    side = summary.side_by_side(t)
    assert list(side["plain logits"]) == ["supported", "—"]


def test_then_and_now_follows_renamed_and_dropped_conclusions():
    rows = []
    for old, (new, _) in claims.EARLIER_WORDING.items():
        if new != "":
            rows.append({"claim": new or old, "family": "statement", "verdict": "supported"})
    changed = summary.then_and_now(table(rows), claims.EARLIER_WORDING)
    assert len(changed) == 21  # every verdict published at full-v1
    dropped = changed[changed.now == "(dropped)"]
    assert list(dropped.conclusion) == ["The scratch classifier's confusion matrix shows less confusion than the "
                                        "pretrained one's"]
    assert (changed[changed.now != "(dropped)"].now == "supported").all()  # every other one found under its new name


def test_an_undecided_row_says_how_many_seeds_would_settle_it_or_that_no_count_within_the_limit_would():
    t = table([{"claim": "a", "family": "statement", "verdict": "inconclusive", "seeds needed": 6},
               {"claim": "b", "family": "statement", "verdict": "inconclusive", "seeds needed": 1000}])
    side = list(summary.side_by_side(t)["the statement's head"])
    assert side[0] == "inconclusive (about 6 seeds per setting give an 80% chance to settle it)"
    assert side[1] == "inconclusive (not even 1000 seeds per setting give an 80% chance to settle it)"


def test_the_seeds_needed_text_says_the_power_it_aims_at(monkeypatch):
    monkeypatch.setattr(stats, "POWER", 0.9)
    t = table([{"claim": "a", "family": "statement", "verdict": "inconclusive", "seeds needed": 6}])
    assert list(summary.side_by_side(t)["the statement's head"]) == [
        "inconclusive (about 6 seeds per setting give a 90% chance to settle it)"]
