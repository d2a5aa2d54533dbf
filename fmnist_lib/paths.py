"""Paths anchored at the repository root, never at the working directory."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def env_path(name: str, default: Path) -> Path:
    """The path in environment variable `name`, else `default`. Set but empty means unset (never the working
    directory); a relative path is taken from the repository root, where make runs (kernels run in notebooks/)."""
    value = os.environ.get(name, "").strip()
    return ROOT / Path(value).expanduser() if value else default


def runs_dir() -> Path:
    """The run cache: $FMNIST_RUNS, else the repo's runs/."""
    return env_path("FMNIST_RUNS", ROOT / "runs")


def reports_dir(profile: str) -> Path:
    """Where the executed notebooks and the rendered report of a profile go."""
    return env_path("FMNIST_REPORTS", ROOT / "reports") / profile


def store_dir(profile: str) -> Path:
    """Where `python -m fmnist_lib.store publish PROFILE` writes: $FMNIST_STORE (for tests and trials), else the
    committed reports/<profile>/store/ (never under $FMNIST_REPORTS, so a temporary report folder still reads it)."""
    return Path(os.environ.get("FMNIST_STORE") or ROOT / "reports" / profile / "store")


def store_dirs() -> list[Path]:
    """The results stores a run missing from the run cache is looked up in: $FMNIST_STORE, else every
    reports/*/store/ of the repository."""
    env = os.environ.get("FMNIST_STORE")
    return [Path(env)] if env else sorted(ROOT.glob("reports/*/store"))
