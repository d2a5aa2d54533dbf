"""Render the report's HTML to PDF with WeasyPrint (no LaTeX, no browser): `python -m fmnist_lib.render IN OUT`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

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


def html_to_pdf(html: Path, pdf: Path) -> None:
    from weasyprint import CSS, HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    tmp = pdf.with_name(f".{pdf.name}.part")
    try:
        HTML(filename=str(html)).write_pdf(str(tmp), stylesheets=[CSS(string=PRINT_CSS)])
        tmp.replace(pdf)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fmnist_lib.render", description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the report's HTML (must exist)")
    parser.add_argument("pdf", type=Path, help="the PDF to write (written beside it, then renamed into place)")
    args = parser.parse_args(argv)
    if not args.html.is_file():
        parser.error(f"{args.html} does not exist; render the HTML first (make summary)")
    html_to_pdf(args.html, args.pdf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
