"""Paths anchored at the repository root, never at the working directory."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def runs_dir() -> Path:
    """The run cache: $FMNIST_RUNS, else the repo's runs/."""
    return Path(os.environ.get("FMNIST_RUNS", ROOT / "runs"))


def reports_dir(profile: str) -> Path:
    """Where the executed notebooks and the rendered report of a profile go."""
    return Path(os.environ.get("FMNIST_REPORTS", ROOT / "reports")) / profile
