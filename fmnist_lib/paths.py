"""Paths anchored at the repository root, never at the working directory, and every FMNIST_* environment variable
(make exports its variables as these)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def env_text(name: str) -> str:
    """The text of environment variable `name`, stripped; '' when unset or empty (both mean: the default)."""
    return os.environ.get(name, "").strip()


def env_path(name: str, default: Path) -> Path:
    """The path in environment variable `name`, else `default`. Set but empty means unset (never the working
    directory); a relative path is taken from the repository root, where make runs (kernels run in notebooks/)."""
    value = env_text(name)
    return ROOT / Path(value).expanduser() if value else default


def runs_dir() -> Path:
    """The run cache: $FMNIST_RUNS, else the repo's runs/."""
    return env_path("FMNIST_RUNS", ROOT / "runs")


def reports_dir(profile: str) -> Path:
    """Where the executed notebooks and the rendered report of a profile go: $FMNIST_REPORTS/<profile>, else
    reports/<profile>."""
    return env_path("FMNIST_REPORTS", ROOT / "reports") / profile


def published_dir(profile: str) -> Path:
    """The committed reports/<profile>/ of the repository: the store, runs.csv, the README's figures (never under
    $FMNIST_REPORTS, so a temporary report folder still reads it)."""
    return ROOT / "reports" / profile


def store_dir(profile: str) -> Path:
    """Where `python -m fmnist_lib.store publish PROFILE` writes: $FMNIST_STORE (for tests and trials), else the
    committed reports/<profile>/store/."""
    return env_path("FMNIST_STORE", published_dir(profile) / "store")


def store_dirs() -> list[Path]:
    """The results stores a run missing from the run cache is looked up in: $FMNIST_STORE, else every
    reports/*/store/ of the repository."""
    return [env_path("FMNIST_STORE", ROOT)] if env_text("FMNIST_STORE") else sorted(ROOT.glob("reports/*/store"))


def workers_setting() -> str:
    """$FMNIST_WORKERS (make's WORKERS): parallel training processes; '' for the default, one per core."""
    return env_text("FMNIST_WORKERS")


def retrain_stale_setting() -> bool:
    """$FMNIST_RETRAIN_STALE=1 (set by `python -m fmnist_lib.launch --retrain-stale` for its workers and tasks):
    cache.get_run trains a held run again when cache.stale rejects it."""
    return env_text("FMNIST_RETRAIN_STALE") == "1"


def runs_per_gpu_setting() -> str:
    """$FMNIST_RUNS_PER_GPU (make's RUNS_PER_GPU): runs that share one GPU; '' for the default."""
    return env_text("FMNIST_RUNS_PER_GPU")
