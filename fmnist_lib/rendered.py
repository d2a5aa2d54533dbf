"""The published pages are left alone while what they were rendered from is unchanged.

`python -m fmnist_lib.rendered unchanged PROFILE PAGE...` exits 0 when every PAGE exists and the profile's runs and
the rendering code are those recorded in reports/PROFILE/rendered-from.json (tracked beside the pages);
`python -m fmnist_lib.rendered record PROFILE` writes that file after a render, and reports/PROFILE/render.json
(git-ignored: the render's commit, machine and notebook timings). `make report` uses both, so that a fresh clone's
`make report` leaves the published pages, and git, as they are.
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


def inputs(profile: str) -> dict:
    """What a profile's pages are rendered from: its runs (count and content hash) and the rendering code."""
    from .plan import all_configs

    keys = [c.key() for c in all_configs(profile)]
    return {"profile": profile, "runs": len(keys), "runs_sha256": provenance.runs_sha256(keys), "code": list(CODE),
            "code_sha256": code_sha256()}


def unchanged(profile: str, pages: list[Path]) -> str | None:
    """None when every page exists and the profile's runs and the rendering code are those recorded in STAMP at
    the last render; else why not, in words."""
    stamp = reports_dir(profile) / STAMP
    missing = [str(p) for p in pages if not Path(p).is_file()]
    if missing:
        return f"{len(missing)} page(s) missing ({missing[0]}{', ...' if len(missing) > 1 else ''})"
    if not stamp.is_file():
        return f"no {stamp.name} beside the pages"
    try:
        now = inputs(profile)
    except FileNotFoundError as exc:
        return str(exc)
    recorded = json.loads(stamp.read_text())
    changed = [what for what in ("runs", "runs_sha256", "code", "code_sha256") if recorded.get(what) != now[what]]
    return f"changed since the last render: {', '.join(changed)}" if changed else None


def record(profile: str) -> tuple[Path, Path]:
    """After a render: STAMP (the inputs, tracked beside the published pages) and RENDER (git-ignored: the
    render's commit, machine, time and notebook timings)."""
    import torch

    out = reports_dir(profile)
    stamp, render = out / STAMP, out / RENDER
    stamp.write_text(json.dumps(inputs(profile), indent=1) + "\n")
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
    sub.add_parser("record", help="write rendered-from.json and render.json after a render").add_argument("profile")
    args = parser.parse_args(argv)
    from .config import ConfigError, get_profile

    try:
        get_profile(args.profile)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "record":
        stamp, render = record(args.profile)
        print(f"recorded the inputs of the pages in {stamp}; the render's commit, machine and timings in {render}")
        return 0
    why = unchanged(args.profile, args.pages)
    if why is not None:
        print(f"report: rendering {reports_dir(args.profile)}: {why}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
