"""The README's answer block is what the published store gives (the run cache of this machine plays no part)."""

import pytest

from fmnist_lib import answer

from .conftest import ROOT

pytestmark = pytest.mark.slow  # reads the real test labels for the confusion rows


def test_readme_answer_block_matches_the_published_store():
    if not (ROOT / "reports" / "full" / "store").is_dir():
        pytest.skip("reports/full/store does not exist yet: nothing of the full profile published")
    assert answer.readme_block() == answer.expected_block("full"), (
        "README.md's answer block is stale: run `.venv/bin/python -m fmnist_lib.answer full` after `make publish`")


def test_replace_block_needs_the_markers():
    text = f"a\n{answer.START}\nold\n{answer.END}\nb"
    assert answer.replace_block(text, "new") == f"a\n{answer.START}\nnew\n{answer.END}\nb"
    with pytest.raises(ValueError, match="markers"):
        answer.replace_block("no markers", "new")
