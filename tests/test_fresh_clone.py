"""A reader who clones the project and runs `make report` gets the published pages and a clean `git status`: the
pages are left alone while their runs and code are those recorded in reports/full/rendered-from.json, and a forced
re-render writes them byte for byte as committed (nothing in them changes from one render to the next). While the
profile's plan is only partly published, the pages are a partial render (`make summary PARTIAL=1`, recorded so in
rendered-from.json): `make report` leaves them alone and says so, and the same partial render writes them as committed.

CI only (.ci/run sets FMNIST_FRESH_CLONE=1): the forced render executes the notebooks on the published runs, minutes
(docs/timings.md). It uses this checkout's environment (.venv) and data; the code, the store and the pages
are the clone's, at this checkout's commit."""

import os
import subprocess

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not os.environ.get("FMNIST_FRESH_CLONE"),
    reason="CI only: set FMNIST_FRESH_CLONE=1 to render the full report in a fresh clone (minutes)")]


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    base = tmp_path_factory.mktemp("fresh")
    path = base / "clone"
    git("clone", "--quiet", "--no-checkout", str(ROOT), str(path), cwd=base)
    git("checkout", "--quiet", git("rev-parse", "HEAD", cwd=ROOT).strip(), cwd=path)
    env = {**os.environ, "PYTHONPATH": str(path),  # the clone's fmnist_lib, in make and in the kernels
           "FMNIST_DATA": str(ROOT / "data"), "FMNIST_RUNS": str(base / "runs")}  # no run cache: the store only
    env.pop("FMNIST_REPORTS", None)
    env.pop("FMNIST_STORE", None)
    return path, env


def make_report(clone, *args, target="report"):
    path, env = clone
    result = subprocess.run(["make", "--no-print-directory", target, f"VENV={ROOT / '.venv'}", *args], cwd=path,
                            capture_output=True, text=True, env=env, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_make_report_in_a_fresh_clone_leaves_the_published_pages_alone(clone):
    path, env = clone
    # first the check make report makes, alone: stale pages fail here, not after make report trained for an hour
    check = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "fmnist_lib.rendered", "unchanged", "full",
                            "reports/full/report.html", "reports/full/report.pdf"], cwd=path, env=env,
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, check.stdout + check.stderr
    out = make_report(clone)
    assert "up to date" in out and "training" not in out, (
        "make report in a fresh clone rendered the pages again: the runs or the code differ from those recorded in "
        "reports/full/rendered-from.json; run `make report` and commit reports/full\n" + out[-2000:])
    assert git("status", "--porcelain", cwd=clone[0]) == ""


def test_a_forced_render_in_a_fresh_clone_writes_the_pages_as_committed(clone):
    import json

    from fmnist_lib.rendered import STAMP

    if json.loads((clone[0] / "reports" / "full" / STAMP).read_text()).get("partial"):
        make_report(clone, "PARTIAL=1", target="summary")  # what rendered them: the published runs, trains nothing
    else:
        make_report(clone, "FORCE=1")
    status = git("status", "--porcelain", cwd=clone[0])
    assert status == "", f"a re-render of the same runs changed tracked files:\n{status}"
