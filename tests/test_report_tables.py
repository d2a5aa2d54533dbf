"""The report's tables render the same HTML for the same numbers, so a re-rendered report diffs only where they do."""
import re
import subprocess
import sys

import pandas as pd

from fmnist_lib.report import styled

from .conftest import ROOT

SCRIPT = """
import pandas as pd
from fmnist_lib.report import styled
df = pd.DataFrame({"arm": ["scratch", "pretrained-frozen"], "test accuracy": [0.8423, float("nan")]})
print(styled(df).to_html() + styled(df, **{"test accuracy": "{:.2f}"}).to_html())
"""


def test_a_tables_id_depends_on_its_content_only_the_same_in_every_process():
    df = pd.DataFrame({"a": [1.0, float("nan")]})
    first, second = styled(df).to_html(), styled(df).to_html()
    assert "–" in first and first == second  # what was drawn before changes nothing
    assert styled(df.assign(a=[2.0, 3.0])).to_html() != first  # another table, another id
    assert styled(df, a="{:.1f}").to_html() != first

    def render():
        return subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout
    html = render()
    ids = set(re.findall(r'id="T_(table-[0-9a-f]+)', html))
    assert html == render() and len(ids) == 2
