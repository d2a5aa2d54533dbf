"""Numbers that agree: the README's and the report's run counts and training hours are what the store holds, and each
measured duration is stated once, in the README's timings table (the docs and the rest of the README refer to it)."""

import html
import json
import re

import pytest

from .conftest import ROOT

DURATION = re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:s|sec|seconds?|min|minutes?|h|hours?)\b"
                      r"|\b(?:a few|some) (?:seconds|minutes|hours)\b|\bin (?:seconds|minutes)\b|\babout an? (?:minute|hour)\b")
TIMED = ("make report", "make test", "make test-fast", "make setup", "make summary")
TABLE = "## How long things take here"


def prose(text: str) -> str:
    """`text` without code blocks and without the answer block (generated from the store, tested below)."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"<!-- answer:start -->.*?<!-- answer:end -->", "", text, flags=re.S)


def store_totals() -> tuple[int, float]:
    """(runs of the full profile's plan that the store publishes, their summed training seconds)."""
    from fmnist_lib.plan import all_configs

    store = ROOT / "reports" / "full" / "store"
    metas = [json.loads((store / c.key() / "meta.json").read_text()) for c in all_configs("full")
             if (store / c.key() / "meta.json").is_file()]
    return len(metas), sum(m["wall_seconds"] for m in metas)


def test_the_readme_states_each_duration_once_in_its_timings_table():
    readme = prose((ROOT / "README.md").read_text())
    assert TABLE in readme
    head, table = readme.split(TABLE, 1)
    table, tail = table.split("\n## ", 1)
    assert re.search(r"Measured on \d{4}-\d{2}-\d{2}", table) and "lscpu" in table, "the table names its date and machine"
    rows = [line for line in table.splitlines() if line.startswith("| ") and DURATION.search(line)]
    assert len(rows) >= 3, table
    elsewhere = [line for line in (head + tail).splitlines() if DURATION.search(line)]
    assert not elsewhere, f"durations outside the README's timings table (state them there, once): {elsewhere}"
    for page in sorted((ROOT / "docs").glob("*.md")):
        repeated = [line for line in prose(page.read_text()).splitlines()
                    if DURATION.search(line) and any(f"`{command}" in line for command in TIMED)]
        assert not repeated, f"{page.name} repeats a duration of the README's timings table: {repeated}"


def test_the_readme_answer_counts_the_runs_and_hours_the_store_holds():
    runs, seconds = store_totals()
    if not runs:
        pytest.skip("nothing of the full profile published")
    block = (ROOT / "README.md").read_text().split("<!-- answer:start -->", 1)[1].split("<!-- answer:end -->", 1)[0]
    counts = [int(n) for n in re.findall(r"(\d+) (?:of \d+ )?(?:runs published|published runs)", block)]
    hours = [float(h) for h in re.findall(r"(\d+(?:\.\d+)?) h of training", block)]
    assert counts, "the README's answer says how many runs are published"
    assert set(counts) == {runs}, f"README: {counts} runs; the store publishes {runs} of the full profile's runs"
    assert set(hours) <= {round(seconds / 3600, 1)}, f"README: {hours} h; the store: {seconds / 3600:.2f} h"


def test_the_report_counts_the_runs_and_seconds_the_store_holds():
    from fmnist_lib.provenance import runs_sha256
    from fmnist_lib.rendered import STAMP

    from fmnist_lib.plan import all_configs

    stamp = ROOT / "reports" / "full" / STAMP
    runs, seconds = store_totals()
    if not stamp.is_file():
        pytest.skip(f"reports/full/{STAMP} does not exist yet: the pages predate it (make report writes it)")
    store = ROOT / "reports" / "full" / "store"
    keys = [c.key() for c in all_configs("full") if (store / c.key()).is_dir()]
    if json.loads(stamp.read_text())["runs_sha256"] != runs_sha256(keys):
        pytest.skip("the committed pages were rendered from other runs than the store holds now: re-render them")
    page = (ROOT / "reports" / "full" / "report.html").read_text()
    table = page.split("Appendix: provenance", 1)[1].split("</table>", 1)[0]  # its first table: what, value

    def text(cell):
        return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
    values = dict((text(a), text(b)) for a, b in re.findall(r"<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>", table, re.S))
    assert int(values["training runs"]) == runs
    assert int(values["training compute (s)"]) == round(seconds)


def test_the_method_page_carries_the_choices_table_of_the_library():
    from fmnist_lib.choices import choices_markdown

    page = (ROOT / "docs" / "method.md").read_text()
    assert choices_markdown() in page, "docs/method.md's choices table differs from fmnist_lib/choices.py: paste " \
                                       "the output of `python -c 'from fmnist_lib.choices import *; " \
                                       "print(choices_markdown())'`"
