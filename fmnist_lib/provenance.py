"""Where a report's numbers came from: code, packages, hardware, data, runs and timings."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
import torch

from .data import SPLIT_SEED, verify
from .paths import ROOT

PACKAGES = ("fmnist_lib", "torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib", "seaborn",
            "pandas", "papermill", "nbconvert", "weasyprint")


def git_commit() -> str:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else "")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def environment() -> dict:
    return {
        "git commit": git_commit(),
        "CPU": f"{cpu_name()}, {torch.get_num_threads()} torch threads available",
        "CUDA": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available",
        "data split seed": SPLIT_SEED,
        **{f"MD5 {k}": v for k, v in verify().items()},
    }


def runs_table(groups_by_experiment: dict) -> pd.DataFrame:
    """One row per distinct run across experiments: key, config, epochs, status, seconds and where it ran."""
    rows = {}
    for groups in groups_by_experiment.values():
        for g in groups.values():
            for r in g.runs:
                rows[r.config.key()] = {
                    "run": r.config.key(), "config": r.config.label(), "epochs": r.meta["epochs_run"],
                    "status": r.status, "seconds": round(r.meta["wall_seconds"], 1), "device": r.meta["device"],
                    "cpu": r.meta.get("cpu", ""), "threads": r.meta["threads"], "channels_last": r.config.channels_last,
                }
    return pd.DataFrame(list(rows.values()))


def runs_summary(runs: pd.DataFrame) -> dict:
    """Totals and the settings shared by the runs of a report (device, threads, layout)."""
    def values(column):
        return ", ".join(str(v) for v in sorted(runs[column].unique(), key=str))
    return {
        "training runs": len(runs), "epochs trained": int(runs.epochs.sum()),
        "training compute (s)": round(float(runs.seconds.sum())), "diverged runs": int((runs.status != "ok").sum()),
        "training device": values("device"), "torch threads per run": values("threads"),
        "channels_last": values("channels_last"),
    }


def notebook_timings(report_dir: Path) -> pd.DataFrame:
    """Wall time of each executed notebook in a report folder, from papermill's metadata."""
    rows = []
    for path in sorted(Path(report_dir).glob("*.ipynb")):
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        if meta.get("duration") is not None:
            rows.append({"notebook": path.stem, "seconds": round(meta["duration"], 1),
                         "parameters": json.dumps(meta.get("parameters", {}))})
    return pd.DataFrame(rows, columns=["notebook", "seconds", "parameters"])


def report_table(runs: pd.DataFrame, profile: str) -> pd.DataFrame:
    """The report's provenance: commit, hardware, data checksums, totals over its runs, package versions."""
    values = environment() | {"profile": profile} | runs_summary(runs) | package_versions()
    return pd.DataFrame({"what": list(values), "value": [str(v) for v in values.values()]})
