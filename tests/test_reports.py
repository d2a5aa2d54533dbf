"""The product end to end: papermill executes every notebook on the smoke profile, the report renders,
and bad parameters fail before anything is trained or written."""

import json
import math
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from fmnist_lib.plan import SWEEPS

from .conftest import ROOT

pytestmark = pytest.mark.slow


def make(*args, env_dir, timeout=900):
    env = {**os.environ, "FMNIST_RUNS": str(env_dir / "runs"), "WORKERS": "2"}
    return subprocess.run(["make", "--no-print-directory", *args, "PROFILE=smoke", f"REPORTS={env_dir / 'reports'}"],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """`make -j2 report PROFILE=smoke` from an empty run cache."""
    base = tmp_path_factory.mktemp("smoke")
    result = make("-j2", "report", env_dir=base)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (base / "make.log").write_text(result.stdout + result.stderr)
    return base


def test_make_report_shows_no_error_where_nothing_failed(smoke_report):
    said = (smoke_report / "make.log").read_text()
    assert not re.search(r"ERROR|Traceback|KeyboardInterrupt", said), said[-3000:]


def test_every_notebook_executed_without_error(smoke_report):
    out = smoke_report / "reports" / "smoke"
    names = {p.stem for p in out.glob("*.ipynb")}
    assert names == {"autoencoder", "comparison", "confusion", "report"} | {f"sweep-{s}" for s in SWEEPS}
    for path in out.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
        assert not [o for o in outputs if o["output_type"] == "error"], path
        assert (out / f"{path.stem}.html").is_file()


def test_report_html_holds_the_figures_and_no_code(smoke_report):
    html = (smoke_report / "reports" / "smoke" / "report.html").read_text()
    # figure 1, 8 sweeps, arms, 2 confusion matrices, the head ablation: 13 embedded figures
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64', html)) >= 13
    for text in ("The bottom line", "The study's conclusions, tested", "Holm", "The Sigmoid output trains",
                 "Adam converges", "n = 16 is too small", "p = 0.2 prevents overfitting", "Forest plot",
                     "What changed since the last publication", "permutation test", "lr = 1e-4 is slow",
                 "in accuracy", "in loss", "The largest confusions are among", "converges very slowly",
                 "Larger n gives higher accuracy", "Smaller batches give lower loss", "direction only (1 seed)",
                 "Figure 1.", "Figure 6.", "Figures 7 and 8.", "Figure 9.", "Figure 12.", "classes never predicted",
                 "Choices and their sources", "Appendix: provenance", "data split seed", "sweep-autoencoder-lr.html"):
        assert text in html, text
    assert "results.report_groups" not in html  # code cells hidden


def test_report_pdf_has_pages_with_the_reports_text(smoke_report):
    from pypdf import PdfReader

    reader = PdfReader(smoke_report / "reports" / "smoke" / "report.pdf")
    assert len(reader.pages) >= 5
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "The study's conclusions, tested" in text and "provenance" in text
    assert "The bottom line" in reader.pages[0].extract_text()  # the answer on page 1
    assert "results.report_groups" not in text  # no code


def test_second_make_report_trains_and_executes_nothing(smoke_report):
    result = make("report", env_dir=smoke_report)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fmnist_lib.launch" not in result.stdout and "nbrun" not in result.stdout, result.stdout
    assert "nbconvert" not in result.stdout and "fmnist_lib.render" not in result.stdout


BAD_PARAMETERS = [
    ("sweep-autoencoder-lr", "-p foo 1", "unknown parameter 'foo'"),
    ("autoencoder", "-p epoch 3", "unknown parameter 'epoch'"),
    ("autoencoder", "-p epochs abc", "epochs='abc' has type str"),
    ("autoencoder", "-p epochs 0", "epochs=0 is out of range"),
    ("autoencoder", "-p dropout 1.5", "dropout=1.5 is out of range"),
    ("autoencoder", "-p dropout -0.1", "dropout=-0.1 is out of range"),
    ("autoencoder", "-p lr 0", "lr=0.0 is out of range"),
    ("autoencoder", "-p n 1000", "n=1000 is out of range"),
    ("sweep-autoencoder-lr", "-y 'values: []'", "values=[] is empty"),
    ("sweep-autoencoder-lr", "-p values 0.1", "values=0.1 is not a list"),
    ("sweep-autoencoder-optimizer", "-y 'values: [adam, rmsprop]'", "optimizer='rmsprop' is not allowed"),
    ("sweep-classifier-batch_size", "-y 'values: [0]'", "batch_size=0 is out of range"),
    ("sweep-autoencoder-lr", "-p sweep autoencoder-momentum", "sweep='autoencoder-momentum' is not allowed"),
    ("comparison", "-p profile fast", "profile='fast' is not allowed"),
    ("comparison", "-p seeds 0", "seeds=0 is out of range"),
    ("sweep-autoencoder-lr", "-y 'overrides: {lr: 1}'", "overrides may not set 'lr'"),
    ("sweep-autoencoder-lr", "-y 'overrides: {momentum: 0.9}'", "unknown config field 'momentum'"),
    ("sweep-autoencoder-lr", "-p values [0.001,0.01]", "use -y 'values: [0.001,0.01]'"),
    ("autoencoder", "-p values [0.001,0.01]", "unknown parameter 'values' for notebooks/autoencoder.ipynb"),
]


@pytest.fixture(scope="module")
def bad_parameter_runs(tmp_path_factory):
    """Every bad-parameter make invocation, run four at a time (each starts a kernel), each with its own folders."""
    def attempt(case):
        target, params, _ = case
        env_dir = tmp_path_factory.mktemp("bad")
        return env_dir, make(target, f"PARAMS={params}", env_dir=env_dir)

    with ThreadPoolExecutor(4) as pool:
        return dict(zip(range(len(BAD_PARAMETERS)), pool.map(attempt, BAD_PARAMETERS)))


@pytest.mark.parametrize("case", range(len(BAD_PARAMETERS)), ids=[f"{t} {p}" for t, p, _ in BAD_PARAMETERS])
def test_bad_parameters_fail_before_training_with_one_line(bad_parameter_runs, case):
    env_dir, result = bad_parameter_runs[case]
    expected = BAD_PARAMETERS[case][2]
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]
    runs = env_dir / "runs"
    assert not runs.exists() or not [p for p in runs.iterdir() if not p.name.startswith(".")]
    reports = env_dir / "reports"
    assert not list(reports.rglob("*.ipynb")) and not list(reports.rglob("*.html"))
    # refused first: before make's set-up (whose data check prints this line every time) and before any kernel
    assert "Fashion-MNIST verified" not in result.stdout and "Executing" not in result.stderr, result.stdout


def test_papermill_directly_also_refuses_out_of_range_values(tmp_path):
    env = {**os.environ, "FMNIST_RUNS": str(tmp_path / "runs")}
    result = subprocess.run([str(ROOT / ".venv/bin/papermill"), "notebooks/autoencoder.ipynb",
                             str(tmp_path / "out.ipynb"), "-k", "fmnist", "-p", "profile", "smoke",
                             "-p", "dropout", "1.5"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "dropout=1.5 is out of range" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_diverging_value_is_marked_and_the_sweep_still_renders(tmp_path):
    # SGD at lr=1000 on the classifier from scratch: the loss is non-finite within the first epoch
    result = make("sweep-classifier-lr", "PARAMS=-y 'values: [0.001, 1000.0]' -y 'overrides: {optimizer: sgd, encoder: scratch}'",
                  env_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    html = next((tmp_path / "reports" / "smoke" / "custom").glob("sweep-classifier-lr--*.html")).read_text()
    assert "Diverged (loss became non-finite; curves stop there): lr=1000.0" in html
    assert "<td>diverged</td>" in html  # the summary table's status column


def test_summary_refuses_to_build_from_missing_runs(tmp_path):
    result = make("summary", env_dir=tmp_path)
    assert result.returncode != 0
    assert "MissingRun" in result.stderr and "not in the cache" in result.stderr
    assert not (tmp_path / "reports" / "smoke" / "report.html").exists()


def test_papermill_directly_refuses_an_unknown_parameter_name(tmp_path):
    env = {**os.environ, "FMNIST_RUNS": str(tmp_path / "runs")}
    result = subprocess.run([str(ROOT / ".venv/bin/papermill"), "notebooks/sweep.ipynb", str(tmp_path / "out.ipynb"),
                             "-k", "fmnist", "-p", "profile", "smoke", "-p", "valuez", "[1]"],
                            cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "unknown parameter 'valuez'" in result.stderr
    assert not (tmp_path / "runs").exists()


# --- the report in a browser: headless Chromium ------------------------------------------------------------------

SLICE = 8000  # px of page per screenshot
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars",  # one layout width whether or not the window holds the whole page
                  "--host-resolver-rules=MAP * ~NOTFOUND"]  # offline: the page must not need its CDN scripts

# appended to a copy of the page: after load, the place of every image in the page and the page's height
LAYOUT_PROBE = """<script>
window.addEventListener("load", function () {
  var out = document.createElement("pre");
  out.id = "layout-probe"; out.style.display = "none";
  out.textContent = JSON.stringify({height: document.documentElement.scrollHeight,
    width: document.documentElement.scrollWidth, viewport: window.innerWidth,
    images: Array.from(document.images).map(function (img) {
      var r = img.getBoundingClientRect();
      return {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height,
              natural: img.naturalWidth, complete: img.complete};
    })});
  document.body.appendChild(out);
});
</script>
"""


def _chromium():
    """Debian's `chromium` (or another name of it); .ci/run installs it. Missing: a skip, a failure in CI."""
    import shutil

    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if found is None:
        message = "no headless Chromium here: apt-get install chromium (Debian; .ci/run does it as root)"
        if os.environ.get("FMNIST_REQUIRE_CHROMIUM"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _browse(chromium, profile_dir, url, size, *action) -> str:
    result = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}",
                             f"--window-size={size[0]},{size[1]}", *action, url],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


class _Page:
    """What the checks need from a page: its images' sources, its links, its ids and its headings' text."""

    def __init__(self, html: str):
        from html.parser import HTMLParser

        page = self
        self.images, self.links, self.ids, self.headings = [], [], set(), []

        class Parser(HTMLParser):
            heading = None

            def handle_starttag(self, tag, attrs):
                attrs = dict(attrs)
                if attrs.get("id"):
                    page.ids.add(attrs["id"])
                if tag == "img":
                    page.images.append(attrs.get("src") or "")
                elif tag == "a" and attrs.get("href"):
                    page.links.append(attrs["href"])
                elif tag in ("h1", "title"):
                    self.heading = []

            def handle_data(self, data):
                if self.heading is not None:
                    self.heading.append(data)

            def handle_endtag(self, tag):
                if tag in ("h1", "title") and self.heading is not None:
                    page.headings.append("".join(self.heading))
                    self.heading = None

        Parser().feed(html)


def _on_white(data: bytes):
    """A PNG as Chromium paints it on the page's white background, in grey levels."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    flat = Image.new("RGBA", image.size, "white")
    flat.alpha_composite(image.convert("RGBA"))
    return flat.convert("L")


def test_report_html_in_headless_chromium_draws_every_figure_and_its_links_resolve(smoke_report, tmp_path):
    import base64
    from urllib.parse import unquote, urlsplit

    import numpy as np
    from PIL import Image

    chromium = _chromium()
    out = smoke_report / "reports" / "smoke"
    report = out / "report.html"
    html = report.read_text(encoding="utf-8")
    page = _Page(html)

    # every figure is a PNG embedded in the page that decodes to a picture (not one flat colour)
    assert len(page.images) >= 12
    figures = []
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:80]
        figure = _on_white(base64.b64decode(src.split(",", 1)[1]))
        pixels = np.asarray(figure)
        assert len(np.unique(pixels)) > 16 and 0.01 < (pixels < 250).mean() < 0.9, figure.size
        figures.append(figure)

    # every relative link to a page resolves, and every notebook page of the report is linked; anchors exist
    pages = {link for link in page.links if not urlsplit(link).scheme and urlsplit(link).path.endswith(".html")}
    for link in pages:
        assert (out / unquote(urlsplit(link).path)).is_file(), f"report.html links {link}, which is not in {out}"
    assert {unquote(urlsplit(link).path) for link in pages} == {p.name for p in out.glob("*.html")} - {"report.html"}
    for link in page.links:
        if link.startswith("#"):
            assert unquote(link[1:]) in page.ids, f"report.html links {link}, which is no id of the page"

    # Chromium's DOM of the page (--dump-dom), with a probe that records where each image was laid out
    probe = tmp_path / "probe.html"
    cut = html.rindex("</body>")
    probe.write_text(html[:cut] + LAYOUT_PROBE + html[cut:], encoding="utf-8")
    profile_dir = tmp_path / "chromium-profile"

    def layout(size):
        dom = _browse(chromium, profile_dir, probe.as_uri(), size, "--dump-dom")
        found = re.search(r'<pre id="layout-probe"[^>]*>(.*?)</pre>', dom, re.S)
        assert found, dom[-2000:]
        return dom, json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))

    # on a phone nothing runs off the side: tables stack their rows (render.SCREEN_CSS), figures shrink (headless
    # Chromium's window is 500 px at least: the narrow layout, below 720 px, applies all the same)
    _, narrow = layout((400, 4000))
    width = narrow["viewport"]
    assert width <= 720 and narrow["width"] <= width, f"report.html is {narrow['width']} px wide in {width} px"
    assert all(p["x"] >= 0 and p["x"] + p["w"] <= width for p in narrow["images"]), narrow["images"]

    dom, placed = layout((1280, 4000))
    assert any("Fashion-MNIST CNN study" in h for h in _Page(dom).headings), _Page(dom).headings
    # the whole page is drawn, in slices of at most SLICE px (Chromium draws no taller window): a slice starts at the
    # first figure not yet checked, shifting the page up with a CSS transform, which moves the drawing, not the layout
    height = max(4000, placed["height"] + 100)
    size = (1280, min(SLICE, height))
    if size[1] != 4000:
        dom, placed = layout(size)
    assert len(placed["images"]) == len(figures)
    assert all(p["complete"] and p["natural"] > 0 for p in placed["images"]), placed["images"]  # decoded
    assert all(p["h"] < SLICE - 2 for p in placed["images"]), placed["images"]  # each fits a slice, rounded

    # the page drawn (--screenshot): each figure appears where it was laid out, as its PNG shows it
    head = html.index("</head>")
    checked = set()
    while len(checked) < len(figures):
        before = len(checked)
        offset = math.floor(min(p["y"] for n, p in enumerate(placed["images"]) if n not in checked))
        shifted = tmp_path / f"slice-{offset}.html"
        shifted.write_text(html[:head] + f"<style>html{{transform:translateY(-{offset}px)}}</style>" + html[head:],
                           encoding="utf-8")
        shot_path = tmp_path / f"report-{offset}.png"
        _browse(chromium, profile_dir, shifted.as_uri(), size, f"--screenshot={shot_path}")
        shot = Image.open(shot_path).convert("RGB")
        assert shot.size == size
        assert shot.getcolors(maxcolors=256) is None  # more than 256 colours: not a blank page
        grey = shot.convert("L")
        for n, (figure, p) in enumerate(zip(figures, placed["images"])):
            box = (round(p["x"]), round(p["y"] - offset), round(p["x"] + p["w"]), round(p["y"] - offset + p["h"]))
            if n in checked or box[1] < 0 or box[3] > size[1]:
                continue  # checked already, or drawn in another slice
            assert box[2] <= size[0], f"figure {n} at {box} lies outside the {size} screenshot"
            drawn = np.asarray(grey.crop(box), dtype=float)
            expected = np.asarray(figure.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.LANCZOS),
                                  dtype=float)
            assert (drawn < 250).mean() > 0.01, f"figure {n} at {box} is blank in the screenshot"
            # resampled fine lines and small text lower the match of wide figures (0.88 seen); undrawn is near 0
            assert np.corrcoef(drawn.ravel(), expected.ravel())[0, 1] > 0.6, f"figure {n} at {box} is not drawn"
            checked.add(n)
        assert len(checked) > before, f"no figure checked in the slice at {offset} px"
