"""The published pages are left alone while what they were rendered from is unchanged.

`python -m fmnist_lib.rendered unchanged PROFILE PAGE...` exits 0 when every PAGE exists and the profile's runs and
the rendering code are those recorded in reports/PROFILE/rendered-from.json (tracked beside the pages);
`python -m fmnist_lib.rendered record PROFILE` writes that file after a render, and reports/PROFILE/render.json
(git-ignored: the render's commit, machine and notebook timings). `make report` uses both, so that a fresh clone's
`make report` leaves the published pages, and git, as they are.

A partial render (`make summary PARTIAL=1`, the report of the runs there are while a profile's plan is being trained)
records `--partial`: the runs it read are then those the run cache or the store holds, not the whole plan, and only
report.html and report.pdf are its pages.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from . import provenance
from .paths import ROOT, reports_dir

# what renders a report besides the runs (notebooks by their cells' sources, so outputs saved from Lab do not count)
CODE = ("Makefile", "constraints.txt", "fmnist_lib/*.py", "notebooks/*.ipynb")
STAMP, RENDER = "rendered-from.json", "render.json"
PARTIAL_PAGES = ("report.html", "report.pdf")  # what a partial render (make summary PARTIAL=1) writes


def code_sha256(root: Path = ROOT) -> str:
    """SHA-256 of the code that renders a report (CODE; a notebook by its cells' types and sources)."""
    digest = hashlib.sha256()
    for path in sorted({p for pattern in CODE for p in root.glob(pattern)}):
        data = path.read_bytes()
        if path.suffix == ".ipynb":
            cells = json.loads(data)["cells"]
            data = json.dumps([[c["cell_type"], "".join(c["source"])] for c in cells]).encode()
        digest.update(f"{path.relative_to(root)}\0".encode() + data + b"\0")
    return digest.hexdigest()


def inputs(profile: str, partial: bool = False) -> dict:
    """What a profile's pages are rendered from: its runs (count and content hash) and the rendering code. Partial:
    the planned runs the run cache or the store holds (in a fresh clone, the store's)."""
    from .cache import is_cached
    from .plan import all_configs

    planned = all_configs(profile)
    keys = [c.key() for c in planned if not partial or is_cached(c)]
    partial = partial and len(keys) < len(planned)  # every planned run there: a whole render's inputs
    return {"profile": profile, **({"partial": True, "planned": len(planned)} if partial else {}), "runs": len(keys),
            "runs_sha256": provenance.runs_sha256(keys), "code": list(CODE), "code_sha256": code_sha256()}


def unchanged(profile: str, pages: list[Path]) -> str | None:
    """None when every page exists and the profile's runs and the rendering code are those recorded in STAMP at
    the last render; else why not, in words."""
    stamp = reports_dir(profile) / STAMP
    recorded = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if recorded.get("partial"):  # a partial render's pages: the report alone
        pages = [p for p in pages if Path(p).name in PARTIAL_PAGES]
    missing = [str(p) for p in pages if not Path(p).is_file()]
    if missing:
        return f"{len(missing)} page(s) missing ({missing[0]}{', ...' if len(missing) > 1 else ''})"
    if not recorded:
        return f"no {stamp.name} beside the pages"
    try:
        now = inputs(profile, partial=recorded.get("partial", False))
    except FileNotFoundError as exc:
        return str(exc)
    changed = [what for what in ("runs", "runs_sha256", "code", "code_sha256") if recorded.get(what) != now[what]]
    return f"changed since the last render: {', '.join(changed)}" if changed else None


def record(profile: str, partial: bool = False) -> tuple[Path, Path]:
    """After a render: STAMP (the inputs, tracked beside the published pages) and RENDER (git-ignored: the
    render's commit, machine, time and notebook timings)."""
    import torch

    out = reports_dir(profile)
    stamp, render = out / STAMP, out / RENDER
    stamp.write_text(json.dumps(inputs(profile, partial), indent=1) + "\n")
    timings = provenance.notebook_timings(out)
    render.write_text(json.dumps({
        "rendered": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": provenance.git_commit(),
        "machine": f"{provenance.cpu_name()}, {torch.get_num_threads()} torch threads"
                   + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""),
        "notebook seconds": dict(zip(timings.notebook, timings.seconds))}, indent=1) + "\n")
    return stamp, render


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fmnist_lib.rendered", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("unchanged", help="exit 0 when the pages need no render")
    check.add_argument("profile")
    check.add_argument("pages", nargs="*", type=Path)
    rec = sub.add_parser("record", help="write rendered-from.json and render.json after a render")
    rec.add_argument("profile")
    rec.add_argument("--partial", action="store_true", help="a partial render: the runs there are, report only")
    args = parser.parse_args(argv)
    from .config import ConfigError, get_profile

    try:
        get_profile(args.profile)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "record":
        stamp, render = record(args.profile, args.partial)
        print(f"recorded the inputs of the pages in {stamp}; the render's commit, machine and timings in {render}")
        return 0
    out = reports_dir(args.profile)
    why = unchanged(args.profile, args.pages)
    if why is not None:
        print(f"report: rendering {out}: {why}")
        return 1
    print(f"report: {out}/report.html and report.pdf are up to date: the runs and the code are those they were "
          f"rendered from ({out}/{STAMP}); FORCE=1 renders them again")
    recorded = json.loads((out / STAMP).read_text())
    if recorded.get("partial"):
        print(f"report: they show {recorded['runs']} of the plan's {recorded['planned']} runs; "
              f"FORCE=1 would first train the other {recorded['planned'] - recorded['runs']} (hours on a CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
