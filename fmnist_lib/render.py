"""Render an executed notebook as an HTML page (nbconvert's exporter), and an HTML page as a PDF with WeasyPrint (no
LaTeX, no browser): `python -m fmnist_lib.render IN.ipynb OUT.html [--no-input]`, `python -m fmnist_lib.render
IN.html OUT.pdf`. Each writes beside its output and renames it into place."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

# Narrow screens (phones): every table of report.styled() stacks, one block per row, each cell led by its column's name
# (the ::before labels styled() writes; hidden on wide screens and in print); long hashes wrap.
SCREEN_CSS = """
.jp-RenderedHTMLCommon td.data::before { display: none; }
@media screen and (max-width: 720px) {
  body { padding: 0 6px !important; }
  .jp-RenderedHTMLCommon table, .jp-RenderedHTMLCommon tbody, .jp-RenderedHTMLCommon td {
    display: block; width: auto !important; max-width: 100%; }
  .jp-RenderedHTMLCommon thead { display: none; }
  .jp-RenderedHTMLCommon tr { display: flex; flex-direction: column; padding: 6px 0; border-top: 1px solid #bbb; }
  .jp-RenderedHTMLCommon td { text-align: left !important; padding: 1px 0 !important; border: none !important;
    overflow-wrap: anywhere; }
  .jp-RenderedHTMLCommon td.data::before { display: inline; font-weight: 600; }
  .jp-OutputArea-output { overflow-x: visible !important; }
}
"""

PRINT_CSS = """
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; } }
body { font-size: 10pt; }
img { max-width: 100% !important; height: auto !important; page-break-inside: avoid; }
table { font-size: 7.5pt; page-break-inside: auto; max-width: 100%; word-break: break-word; }
tr { page-break-inside: avoid; }
h1, h2, h3 { page-break-after: avoid; }
.jp-OutputPrompt, .jp-InputPrompt { display: none !important; }
/* JupyterLab lays cells out as flex rows, which WeasyPrint moves whole to the next page: plain blocks fragment */
.jp-Cell, .jp-Cell-inputWrapper, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child,
.jp-OutputArea-output, .jp-RenderedHTMLCommon, .jp-InputArea { display: block !important; overflow: visible !important; }
/* JupyterLab's print CSS keeps each output whole (break-inside: avoid-page): a long table would leave a half-empty
   page before it; tables break between rows instead, figures stay whole (img above) */
.jp-OutputArea-child { break-inside: auto !important; page-break-inside: auto !important; }
/* a heading cell stays with what follows it */
.jp-MarkdownCell:has(h1, h2, h3) { page-break-after: avoid; }
"""


def final_frames(text: str) -> str:
    """`text` as a terminal leaves it: each line as its last carriage return left it (a progress bar's last frame)."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def collapse_streams(nb) -> None:
    """In every code cell, consecutive outputs of one stream (stdout, stderr) as one output, each line at its final
    frame: a progress bar's redraws become its last line instead of several blocks of repeated frames."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.outputs:
            if out.output_type == "stream" and merged and merged[-1].output_type == "stream" \
                    and merged[-1].name == out.name:
                merged[-1].text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.output_type == "stream":
                out.text = final_frames(out.text)
        cell.outputs = [out for out in merged if out.output_type != "stream" or out.text.strip()]


def write_html(notebook: Path, page: Path, no_input: bool = False) -> None:
    """Render `notebook` as `page` (what `jupyter nbconvert --to html [--no-input]` writes) with SCREEN_CSS and
    progress bars at their last frame (collapse_streams), atomically."""
    quiet = logging.getLogger("fmnist_lib.render.html")
    quiet.setLevel(logging.ERROR)  # as nbconvert's --log-level ERROR
    exporter = HTMLExporter(log=quiet, exclude_input=no_input, exclude_input_prompt=no_input,
                            exclude_output_prompt=no_input)
    nb = nbformat.read(notebook, as_version=4)
    collapse_streams(nb)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": page.stem, "path": str(page.parent)}})
    head = body.index("</head>")
    body = f"{body[:head]}<style>{SCREEN_CSS}</style>\n{body[head:]}"
    tmp = page.with_name(f".{page.name}.{os.getpid()}.part")
    try:
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(page)
    finally:
        tmp.unlink(missing_ok=True)


def html_to_pdf(html: Path, pdf: Path) -> None:
    from weasyprint import CSS, HTML  # heavy at start-up (Pango): only where a PDF is made

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    tmp = pdf.with_name(f".{pdf.name}.part")
    try:
        document = HTML(filename=str(html)).render(stylesheets=[CSS(string=PRINT_CSS)])
        # WeasyPrint resolves a link to a page beside the report (autoencoder.html) into this machine's file:// path:
        # kept relative, it works beside the PDF anywhere, and the PDF does not depend on where it was rendered
        here = Path(html).resolve().parent.as_uri() + "/"
        for page in document.pages:
            page.links = [(kind, target[len(here):] if kind == "external" and target.startswith(here) else target,
                           *rest) for kind, target, *rest in page.links]
        document.write_pdf(str(tmp))
        tmp.replace(pdf)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmnist_lib.render", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="an executed notebook (.ipynb) or the report's page (.html)")
    parser.add_argument("target", type=Path, help="the page (.html) or the PDF (.pdf) to write")
    parser.add_argument("--no-input", action="store_true", help="notebook to page: leave out the code cells")
    args = parser.parse_args(argv)
    kinds = (args.source.suffix, args.target.suffix)
    if kinds not in ((".ipynb", ".html"), (".html", ".pdf")):
        parser.error(f"{args.source} -> {args.target} is not allowed; allowed: IN.ipynb OUT.html or IN.html OUT.pdf")
    if not args.source.is_file():
        parser.error(f"{args.source} does not exist; render it first (make summary)")
    if kinds == (".ipynb", ".html"):
        write_html(args.source, args.target, args.no_input)
    else:
        html_to_pdf(args.source, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
