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
h1, h2 { page-break-after: avoid; }
.jp-OutputPrompt, .jp-InputPrompt { display: none !important; }
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
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not Path(args[0]).is_file():
        print("error: usage: python -m fmnist_lib.render REPORT.html REPORT.pdf (the HTML must exist)", file=sys.stderr)
        return 2
    html_to_pdf(Path(args[0]), Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
