"""Where a report's numbers came from: the runs (their content's hash, the commits and machines that trained them),
the packages that rendered them, the data; nothing that changes from one render of the same runs to the next (the
render's commit, machine and timings: fmnist_lib.rendered writes them beside the pages, where git ignores them)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
import torch

from .data import SPLIT_SEED, check_files
from .paths import ROOT, runs_dir, store_dirs

# the packages a report's numbers and pages depend on: computing (torch to pandas), then rendering (the rest)
PACKAGES = ("fmnist_lib", "torch", "torchvision", "numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "seaborn",
            "pillow", "fonttools", "papermill", "nbconvert", "nbformat", "jinja2", "mistune", "pygments",
            "weasyprint", "pydyf", "tinycss2")
# the files of a run that the report reads (meta.json holds the weights' SHA-256, so a store entry without
# weights.pt and the run cache's copy with it hash the same)
RUN_FILES = ("config.json", "history.json", "meta.json", "test_predictions.txt")


def git_commit() -> str:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else "")


def unreproducible(meta: dict) -> str | None:
    """Why a run's recorded commits do not reproduce it (a tree with uncommitted changes, the checkout moved while
    it trained, no commit), or None when one commit in history trained it."""
    start, end = meta.get("commit") or "unknown", meta.get("commit_at_end", meta.get("commit")) or "unknown"
    if "uncommitted" in start or "uncommitted" in end:
        return f"trained from a tree with uncommitted changes ({start})"
    if start.startswith("unknown") or end.startswith("unknown"):
        return "trained outside a git checkout (no commit recorded)"
    if start != end:
        return f"the checkout moved while it trained ({start} at the start, {end} at the end)"
    return None


def trained_from(meta: dict, encoder: dict | None) -> bool:
    """Whether the pretrained classifier of `meta` was trained from the autoencoder of meta `encoder` (by the SHA-256
    of its weights, which a run records; a run from before runs recorded it counts as trained from an autoencoder
    that recorded none either: one trained again since is another copy)."""
    if encoder is None:
        return False
    recorded = meta.get("encoder_sha256", "not recorded")
    return recorded == encoder["weights_sha256"] or (recorded == "not recorded" and "encoder_sha256" not in encoder)


def choose(sources: dict) -> tuple[set[str], list[str]]:
    """Which runs fmnist_lib.store publishes from the run cache: {key: (cfg, reproducible cache copy or None,
    published copy or None)}, each copy an object with .meta -> (keys taken from the cache, one line per replacement
    or hold-back). A run not published yet comes from the cache
    (a pretrained classifier only if it was trained from the autoencoder published with it). A published run stays,
    unless no commit reproduces it and the cache holds one that does: then the cache's copy replaces it; for an
    autoencoder only together with every published classifier that starts from it, each retrained from the new copy,
    so the store never pairs a classifier with an autoencoder it was not trained from."""
    taken, notes = set(), []
    children: dict[str, list[str]] = {}
    for key, (cfg, _, _) in sources.items():
        if cfg.pretrained:
            children.setdefault(cfg.autoencoder_config().key(), []).append(key)

    def replaceable(key):
        _, src, pub = sources[key]
        return src is not None and pub is not None and unreproducible(pub.meta) is not None

    for key, (cfg, src, pub) in sources.items():
        if cfg.model != "autoencoder" or src is None:
            continue
        if pub is None:
            taken.add(key)
        elif replaceable(key):
            kids = [k for k in children.get(key, []) if sources[k][2] is not None]
            same = src.meta["weights_sha256"] == pub.meta["weights_sha256"]  # a bit-identical retrain
            kept = [k for k in kids if unreproducible(sources[k][2].meta) is None and same
                    and trained_from(sources[k][2].meta, pub.meta)]
            fresh = [k for k in kids if k not in kept and sources[k][1] is not None
                     and trained_from(sources[k][1].meta, src.meta)]
            if late := len(kids) - len(kept) - len(fresh):
                notes.append(f"waits: {cfg.label()} ({key}) is not replaced yet: {late} of the {len(kids)} "
                             f"published classifiers that start from it have not been trained from its new copy")
            else:
                taken |= {key, *fresh}
                notes.append(f"replaced: {cfg.label()} ({key}), {unreproducible(pub.meta)}, by its reproducible "
                             f"copy in the run cache, with {len(fresh)} of the {len(kids)} published classifiers that "
                             f"start from it (the others were trained from the same weights)")
        elif src.history != pub.history:
            notes.append(f"warning: {cfg.label()} ({key}): the run cache's history differs from the published one "
                         f"(trained on {src.meta.get('cpu')} / {pub.meta.get('cpu')}); the published one is kept")
    for key, (cfg, src, pub) in sources.items():
        if cfg.model == "autoencoder" or src is None or key in taken:
            continue
        if cfg.pretrained:
            ae = cfg.autoencoder_config().key()
            encoder = sources[ae][1] if ae in taken else sources.get(ae, (None, None, None))[2]
            if not trained_from(src.meta, encoder.meta if encoder is not None else None):
                if pub is None or replaceable(key):
                    notes.append(f"held back: {cfg.label()} ({key}) was trained from another copy of its "
                                 f"autoencoder than the one published")
                continue
        if pub is None or replaceable(key):
            taken.add(key)
            if pub is not None:
                notes.append(f"replaced: {cfg.label()} ({key}), {unreproducible(pub.meta)}, by its reproducible "
                             f"copy in the run cache")
    return taken, notes


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device, threads: int) -> dict:
    """The kind of machine a run trains on: device, CPU model, the instruction set torch uses, torch's version, and
    the torch threads of a CPU run (None on a GPU)."""
    return {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "cpu": cpu_name(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "threads": threads if device.type == "cpu" else None}


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out | {"Pango (WeasyPrint's text layout, a system library)": pango_version()}


def pango_version() -> str:
    import warnings

    try:
        with warnings.catch_warnings():  # WeasyPrint warns on import where HarfBuzz-Subset is missing
            warnings.simplefilter("ignore")
            from weasyprint.text.ffi import pango
        number = pango.pango_version()  # major * 10000 + minor * 100 + micro
        return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
    except Exception:  # no WeasyPrint, or one without this binding: the PDF says nothing of Pango then
        return "unknown"


def environment() -> dict:
    """What the numbers depend on besides the runs: the data."""
    return {"data split seed": SPLIT_SEED, **{f"MD5 {k}": v for k, v in check_files().items()}}


def run_entry(key: str) -> Path:
    """The folder the run `key` is read from: the run cache's entry, else the store's (cache.load's order)."""
    for folder in [runs_dir()] + store_dirs():
        if (folder / key).is_dir():
            return folder / key
    raise FileNotFoundError(f"run {key} is not in the run cache nor in a results store")


def runs_sha256(keys) -> str:
    """SHA-256 of the runs `keys` as a report reads them (run cache first, then the store): each run's RUN_FILES,
    in key order. The same runs give the same hash wherever they are read from."""
    digest = hashlib.sha256()
    for key in sorted(set(keys)):
        entry = run_entry(key)
        for name in RUN_FILES:
            if (entry / name).is_file():
                digest.update(f"{key}/{name}\0".encode() + (entry / name).read_bytes() + b"\0")
    return digest.hexdigest()


def machine_kind(meta: dict) -> str:
    """The kind of machine that trained a run, from its metadata: on a GPU its name and torch's version; on a CPU the
    CPU model, the instruction set torch used and torch's version. On one CPU kind a run with a given config and seed
    is bit-for-bit repeatable; across kinds (and on GPUs) the low bits differ, and the study's ReLU-on-logits head can
    turn such differences into points of accuracy."""
    device = meta.get("device") or "unknown device"
    torch_version = meta.get("torch") or "unknown"
    if device != "cpu":
        return f"{device}, torch {torch_version}"
    return f"cpu, {meta.get('cpu') or 'unknown CPU'} ({meta.get('cpu_capability') or 'unknown'}), torch {torch_version}"


def _runs(groups_by_experiment: dict) -> dict:
    """{key: run} over every group of every experiment (a run shared by several groups once)."""
    return {r.config.key(): r for groups in groups_by_experiment.values() for g in groups.values() for r in g.runs}


def runs_table(runs) -> pd.DataFrame:
    """One row per run: key, label, epochs, status, wall time, device, CPU, threads, layout, the kind of machine
    (machine_kind) and the commit that trained it. `runs`: RunResults, or {experiment: {label: Group}}."""
    if isinstance(runs, dict):
        runs = _runs(runs).values()
    return pd.DataFrame([{
        "run": r.config.key(), "config": r.config.label(), "epochs": r.meta["epochs_run"], "status": r.status,
        "seconds": r.meta["wall_seconds"], "device": r.meta.get("device") or "unknown",
        "cpu": r.meta.get("cpu") or "unknown", "threads": r.meta.get("threads"),
        "channels_last": r.config.channels_last, "machine": machine_kind(r.meta),
        "commit": r.meta.get("commit") or "unknown",
    } for r in runs])


def mixed_machines(groups_by_experiment: dict) -> list[str]:
    """One line per setting (one config over seeds) whose runs were trained on more than one kind of machine: its
    spread over seeds then holds the machines' differences too, and the report must say so. A setting that several
    experiments share (the baseline is also a value of two sweeps) is one line naming them all."""
    settings: dict[frozenset, tuple[list[str], list[str]]] = {}
    for experiment, groups in groups_by_experiment.items():
        for label, g in groups.items():
            kinds = sorted({machine_kind(r.meta) for r in g.runs})
            if len(kinds) > 1:
                names, _ = settings.setdefault(frozenset(r.config.key() for r in g.runs), ([], kinds))
                names.append(f"{experiment} {label}")
    return [f"{' = '.join(names)}: {len(keys)} runs on {len(kinds)} kinds of machine ({'; '.join(kinds)})"
            for keys, (names, kinds) in settings.items()]


def machine_counts(runs: pd.DataFrame) -> dict[str, int]:
    """{kind of machine: number of runs} over a runs_table, in the kinds' order."""
    return {kind: int(n) for kind, n in runs.machine.value_counts().sort_index().items()}


def runs_summary(runs: pd.DataFrame, mixed: list[str] | None = None) -> dict:
    """Totals and the settings shared by the runs of a report (machines, threads, layout, commits), and the settings
    whose seeds mix kinds of machine (`mixed`, from mixed_machines)."""
    def values(column):
        return ", ".join(str(v) for v in sorted(runs[column].unique(), key=str))
    return {
        "training runs": len(runs), "epochs trained": int(runs.epochs.sum()),
        "training compute (s)": round(float(runs.seconds.sum())), "diverged runs": int((runs.status != "ok").sum()),
        "trained on": "; ".join(f"{kind}: {n} runs" for kind, n in machine_counts(runs).items()),
        "settings mixing kinds of machine": "; ".join(mixed) if mixed else "none",
        "torch threads per run": values("threads"), "channels_last": values("channels_last"),
        "commits that trained the runs": values("commit"),
    }


def notebook_timings(report_dir: Path) -> pd.DataFrame:
    """Wall time of each executed notebook in a report folder, from papermill's metadata: the pages a report links,
    so not the report itself (still running while it asks, or a stale copy from an earlier render)."""
    rows = []
    for path in sorted(Path(report_dir).glob("*.ipynb")):
        if path.stem == "report":
            continue
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        if meta.get("duration") is not None:
            rows.append({"notebook": path.stem, "seconds": round(meta["duration"], 1),
                         "parameters": json.dumps(meta.get("parameters", {}))})
    return pd.DataFrame(rows, columns=["notebook", "seconds", "parameters"])


def report_table(runs: pd.DataFrame, profile: str, mixed: list[str] | None = None) -> pd.DataFrame:
    """The report's provenance: data checksums, totals over its runs, the runs' content hash, package versions;
    nothing that changes from one render of the same runs to the next."""
    values = (environment() | {"profile": profile} | runs_summary(runs, mixed)
              | {"content of the runs (SHA-256 of their config, history, metadata and predictions files)":
                 runs_sha256(runs.run)} | package_versions())
    return pd.DataFrame({"what": list(values), "value": [str(v) for v in values.values()]})
