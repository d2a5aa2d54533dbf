"""The report's tables render the same HTML for the same numbers, so a re-rendered report diffs only where they do."""
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


def test_tables_get_distinct_ids_in_drawing_order_and_the_same_html_in_every_process():
    df = pd.DataFrame({"a": [1.0, float("nan")]})
    first, second = styled(df).to_html(), styled(df).to_html()
    assert "–" in first and first != second  # two tables in one page never share an id

    def render():
        return subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout
    html = render()
    assert html == render() and 'id="T_table1"' in html and 'id="T_table2"' in html
