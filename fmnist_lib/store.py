"""The committed results store: what a reader needs of a profile's runs, in git, so that nothing must be trained.

reports/<profile>/store/<key>/ holds one finished run as the run cache holds it (config.json, history.json,
meta.json, and test_predictions.txt for a classifier), with weights.pt only where something needs the weights: the
figure of reconstructions (the first seed of the baseline autoencoder), a classifier without recorded test
predictions (its confusion matrix then comes from its weights), and the autoencoder of a planned pretrained classifier
not published yet (training it in a later session needs that encoder). `cache.load` reads a run from a store when the
run cache lacks it. Beside the store, `publish` writes runs.csv (one row per planned run: config, status, device,
wall time, final metrics) and models.json (each model's parameter count and layer list at the profile's defaults).

    python -m fmnist_lib.store publish PROFILE   copy the finished runs of PROFILE from the run cache into the store

Checking the published runs against a retraining is fmnist_lib.verify.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import sys
from pathlib import Path

import torch

from . import cache
from .config import FIELDS, HEADS, ACTIVATIONS, ENCODERS, Config, ConfigError, get_profile, make_config
from .models import build_model, count_parameters, layer_list
from .paths import runs_dir, store_dir
from .plan import all_configs, baseline_configs, with_autoencoders
from .provenance import choose, trained_from, unreproducible

ENTRY_FILES = ("config.json", "history.json", "meta.json", cache.PREDICTIONS)  # weights.pt only where needed
STATUSES = ("ok", "diverged", "missing")


class StoreError(RuntimeError):
    """A store that cannot be published into; the message names what and why."""


# ---------------------------------------------------------------------------------------------------------- weights
def figure_weights(profile: str) -> set[str]:
    """Keys of the runs whose weights a figure draws: the reconstructions of the baseline autoencoder's first seed.
    (Confusion matrices come from each classifier's recorded test predictions.)"""
    return {baseline_configs(profile)[0].key()}


def weights_needed(profile: str, plan: list[Config], published: dict[str, cache.RunResult],
                   pending_encoders: bool = True) -> dict[str, str]:
    """{key: why} of the runs whose weights the store keeps."""
    need = {k: "figure: reconstructions" for k in figure_weights(profile)}
    for key, run in published.items():
        if run.config.model == "classifier" and run.predictions is None:
            need.setdefault(key, "no recorded test predictions: its confusion matrix needs its weights")
    if pending_encoders:
        pending = [c for c in plan if c.pretrained and c.key() not in published]
        for c in with_autoencoders(pending):
            if c.model == "autoencoder":
                need.setdefault(c.key(), "encoder of an unpublished pretrained classifier")
    return need


# ---------------------------------------------------------------------------------------------------------- publish
def _try_read(cfg: Config, path: Path, what: str, weights_optional: bool) -> cache.RunResult | None:
    if not path.is_dir():
        return None
    try:
        return cache.read_entry(cfg, path, weights_optional=weights_optional)
    except cache.CorruptEntry as exc:
        print(f"warning: {what} {path} ({cfg.label()}) is unusable: {exc}", file=sys.stderr)
        return None


def _write_entry(files: dict[str, Path], final: Path) -> None:
    """Copy {name: source} into the entry `final`, atomically (nothing half-written)."""
    with cache.atomic_dir(final) as tmp:
        for name, src in files.items():
            shutil.copyfile(src, tmp / name)


def _same_files(files: dict[str, Path], entry: Path) -> bool:
    present = {p.name for p in entry.iterdir()} if entry.is_dir() else set()
    return present == set(files) and all((entry / n).read_bytes() == src.read_bytes() for n, src in files.items())


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)


def publish(profile: str, root: Path | None = None, store: Path | None = None, pending_encoders: bool = True,
            out=sys.stdout) -> dict:
    """Copy every finished run of the profile's plan from the run cache into the store; keep what the store already
    has; drop weights nothing needs and entries no longer planned; write runs.csv and models.json beside the store.
    Returns counts; StoreError if a published entry is corrupt and the run cache cannot replace it."""
    plan = all_configs(profile)
    store = Path(store or store_dir(profile))
    runs_root = Path(root) if root else runs_dir()
    store.mkdir(parents=True, exist_ok=True)
    sources, broken, refused = {}, [], []
    for cfg in plan:
        key = cfg.key()
        src = _try_read(cfg, cache.entry_dir(cfg, runs_root), "run-cache entry", False)
        pub = _try_read(cfg, store / key, "published entry", True)
        if src is not None and (why := unreproducible(src.meta)):
            if pub is None:
                refused.append(f"{cfg.label()} ({key}): {why}")
            src = None  # publish only what a commit in history reproduces
        if pub is None and (store / key).is_dir() and src is None:
            broken.append(f"{store / key} ({cfg.label()})")
        if src is not None or pub is not None:
            sources[key] = (cfg, src, pub)
    if broken:
        raise StoreError(f"{len(broken)} published entr{'y is' if len(broken) == 1 else 'ies are'} corrupt and the "
                         f"run cache has no copy to replace them: " + "; ".join(broken)
                         + " (restore them from git, or train them and publish again)")
    for line in refused:
        print(f"refused: {line}; train it again from a clean checkout (a pinned git worktree)", file=sys.stderr)
    from_cache, notes = choose(sources)
    for line in notes:
        print(line, file=sys.stderr)
    published = {k: (src if k in from_cache else pub) for k, (_, src, pub) in sources.items()
                 if k in from_cache or pub is not None}
    need = weights_needed(profile, plan, published, pending_encoders)
    written = 0
    for key in published:
        cfg, src, pub = sources[key]
        base = cache.entry_dir(cfg, runs_root) if key in from_cache else store / key
        files = {n: base / n for n in ENTRY_FILES if (base / n).is_file()}
        if key in need:
            if (base / "weights.pt").is_file():
                files["weights.pt"] = base / "weights.pt"
            elif src is not None and src.meta.get("weights_sha256") == published[key].meta.get("weights_sha256"):
                files["weights.pt"] = cache.entry_dir(cfg, runs_root) / "weights.pt"
            else:
                print(f"warning: {cfg.label()} ({key}) is published without the weights that the {need[key]} needs: "
                      f"the run cache has no copy of them", file=sys.stderr)
        if not _same_files(files, store / key):
            _write_entry(files, store / key)
            written += 1
    planned = {c.key() for c in plan}
    removed = [p for p in store.iterdir() if p.is_dir() and p.name != ".tmp" and p.name not in planned]
    for p in removed:
        shutil.rmtree(p)
    shutil.rmtree(store / ".tmp", ignore_errors=True)
    results = {c.key(): cache.read_entry(c, store / c.key(), weights_optional=True) for c in plan
               if c.key() in published}
    _write_text(store.parent / "runs.csv", runs_csv(plan, results))
    _write_text(store.parent / "models.json", json.dumps(models_manifest(profile), indent=1) + "\n")
    counts = {"planned": len(plan), "published": len(results), "missing": len(plan) - len(results),
              "refused": len(refused), "unreproducible": sum(unreproducible(r.meta) is not None for r in results.values()),
              "diverged": sum(r.diverged for r in results.values()), "written": written, "removed": len(removed),
              "with_weights": sum(r.state is not None for r in results.values()),
              "wall_seconds": sum(r.meta["wall_seconds"] for r in results.values()),
              "bytes": sum(f.stat().st_size for f in store.rglob("*") if f.is_file())}
    print(f"publish {profile}: {counts['published']} of {counts['planned']} runs published ({counts['diverged']} "
          f"diverged), {counts['missing']} missing; training wall time {counts['wall_seconds'] / 3600:.2f} h; "
          f"{counts['written']} entries written, {counts['removed']} removed; {store} holds "
          f"{counts['bytes'] / 1e6:.1f} MB, weights of {counts['with_weights']} run(s); {counts['refused']} refused "
          f"and {counts['unreproducible']} published earlier from a tree that no commit reproduces", file=out)
    return counts


def runs_csv(plan: list[Config], results: dict[str, cache.RunResult]) -> str:
    """One row per planned run: key, model, label, every config field (empty where it does not apply to the run's
    model), status (ok / diverged / missing), where and how long it trained, and the final epoch's value of every
    history metric."""
    metrics = list(dict.fromkeys(m for r in results.values() for m in r.history if m != "epoch_seconds"))
    header = ["key", "model", "label", *[f for f in FIELDS if f != "model"], "status", "device", "cpu",
              "cpu_capability", "torch", "commit", "commit_at_end", "reproducible_from_commit", "wall_seconds",
              "epochs_run", "weights_published", *[f"final_{m}" for m in metrics]]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for cfg in plan:
        r = results.get(cfg.key())
        row = {"key": cfg.key(), "label": cfg.label(), **cfg.relevant(), "status": r.status if r else "missing"}
        if r:
            row |= {k: r.meta.get(k) for k in ("device", "cpu", "cpu_capability", "torch", "commit", "epochs_run")}
            encoder = results.get(cfg.autoencoder_config().key()) if cfg.pretrained else None
            row |= {"commit_at_end": r.meta.get("commit_at_end", ""), "reproducible_from_commit":
                    unreproducible(r.meta) is None and (encoder is None and not cfg.pretrained or encoder is not None
                                                        and unreproducible(encoder.meta) is None
                                                        and trained_from(r.meta, encoder.meta))}
            row |= {"wall_seconds": round(r.meta["wall_seconds"], 2), "weights_published": r.state is not None}
            row |= {f"final_{m}": r.history[m][-1] for m in metrics if r.history.get(m)}
        writer.writerow(["" if row.get(h) is None else row[h] for h in header])
    return buf.getvalue()


def architecture(cfg: Config) -> torch.nn.Module:
    """The untrained model of a config (a pretrained classifier gets an untrained encoder: the same layers)."""
    encoder = build_model(cfg.replace(encoder="scratch")).encoder.state_dict() if cfg.pretrained else None
    return build_model(cfg, encoder)


def models_manifest(profile: str) -> dict:
    """Each model kind at the profile's defaults: its config, parameter count (trainable ones per encoder for the
    classifier) and layer list; compared with today's code by the staleness test."""
    kinds = {f"autoencoder activation={a}": make_config(profile, "autoencoder", activation=a) for a in ACTIVATIONS}
    kinds |= {f"classifier head={h}": make_config(profile, "classifier", head=h) for h in HEADS}
    out = {}
    for name, cfg in kinds.items():
        model = architecture(cfg)
        entry = {"config": {k: v for k, v in cfg.relevant().items() if k in ("n", "dropout", "activation", "head")},
                 "parameters": count_parameters(model), "layers": layer_list(model)}
        if cfg.model == "classifier":
            entry["trainable_parameters"] = {e: count_parameters(architecture(cfg.replace(encoder=e)),
                                                                 trainable_only=True) for e in ENCODERS}
        out[name] = entry
    return out


# -------------------------------------------------------------------------------------------------------------- cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmnist_lib.store", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("publish", help="copy PROFILE's finished runs from the run cache into its results store")
    p.add_argument("profile")
    p.add_argument("--figure-weights-only", action="store_true",
                   help="drop the weights of autoencoders that unpublished pretrained classifiers still need")
    args = parser.parse_args(argv)
    try:
        get_profile(args.profile)
        publish(args.profile, pending_encoders=not args.figure_weights_only)
        return 0
    except (ConfigError, StoreError, cache.CorruptEntry) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
