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


def test_on_a_narrow_screen_each_cell_is_led_by_its_column_and_the_verdict_comes_first(tmp_path):
    import nbformat

    from fmnist_lib.render import SCREEN_CSS, write_html

    html = styled(pd.DataFrame({"claim": ["a"], "p (Holm)": [0.1], "verdict": ["supported"]})).to_html()
    assert 'td.col1::before {\n  content: "p (Holm): ";' in html and "td.col2 {\n  order: -1;" in html
    assert "::before" not in styled(pd.DataFrame({"what": ["seed"], "value": [1]})).to_html()  # name and value
    # the page carries the CSS that stacks the rows on narrow screens only (print and wide screens keep the table)
    notebook = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t")]), notebook)
    write_html(notebook, tmp_path / "n.html", no_input=True)
    page = (tmp_path / "n.html").read_text()
    assert SCREEN_CSS in page and page.index(SCREEN_CSS) < page.index("</head>")
    assert "@media screen and (max-width: 720px)" in SCREEN_CSS


def test_a_progress_bar_in_a_page_is_one_line_at_its_last_frame(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from fmnist_lib.render import write_html

    bar = ["\rtraining:   0%|          | 0/4", "\rtraining:  50%|█████     | 2/4", "\rtraining: 100%|██████████| 4/4\n"]
    cell = new_code_cell("collect()", outputs=[new_output("stream", name="stderr", text=bar[0]),
                                               new_output("stream", name="stdout", text="training 2 run(s)\n"),
                                               new_output("stream", name="stderr", text=bar[1]),
                                               new_output("stream", name="stderr", text=bar[2])])
    notebook = tmp_path / "n.ipynb"
    nbformat.write(new_notebook(cells=[cell]), notebook)
    write_html(notebook, tmp_path / "n.html")
    page = (tmp_path / "n.html").read_text()
    assert page.count('data-mime-type="application/vnd.jupyter.stderr"') == 2  # before and after the print
    assert "training: 100%" in page and "training:  50%" not in page and page.count("training:   0%") == 1


def test_the_pdf_links_the_pages_beside_it_relatively_and_does_not_depend_on_where_it_was_rendered(tmp_path):
    from pypdf import PdfReader

    from fmnist_lib.render import html_to_pdf

    pdfs = []
    for folder in ("a", "b/deeper"):
        (tmp_path / folder).mkdir(parents=True)
        page = tmp_path / folder / "report.html"
        page.write_text('<html><body><p><a href="autoencoder.html">autoencoder</a> '
                        '<a href="https://example.org/">elsewhere</a></p></body></html>')
        html_to_pdf(page, tmp_path / folder / "report.pdf")
        pdfs.append((tmp_path / folder / "report.pdf").read_bytes())
    assert pdfs[0] == pdfs[1]
    reader = PdfReader(tmp_path / "a" / "report.pdf")
    uris = {a.get_object()["/A"]["/URI"] for a in reader.pages[0]["/Annots"]}
    assert uris == {"autoencoder.html", "https://example.org/"}
