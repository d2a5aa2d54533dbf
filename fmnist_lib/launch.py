"""Training the runs that are missing: what is missing and in which order, how long it will take, where it trains
(here through fmnist_lib.pool, on a Slurm cluster or in submitit's debug executor through fmnist_lib.slurm), and the
command line.

`python -m fmnist_lib.launch PROFILE [--executor local|slurm|debug] [--workers N] [--config slurm.yaml]
[--partition P] [--time-min M] [--gpus-per-task G] [--cpus-per-task C] [--array-parallelism A] [--slurm-args S]`
(`make runs` writes this line); `python -m fmnist_lib.launch --status`: how many runs of each profile the run cache
and the results stores hold. Every executor trains one run per task through cache.get_run, so a run stopped
part-way (SIGKILL, a preemption, a time limit) resumes from its last epoch checkpoint, and one overall progress
bar (runs done of total, epochs done, ETA from the measured rate) with a line per finished run replaces the
per-run bars.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import cache
from .config import PROFILES, Config, ConfigError, get_profile
from .paths import ROOT, runs_dir, store_dirs, workers_setting
from .plan import all_configs, training_priority, with_autoencoders
from .provenance import git_commit
from .pool import train_local
from .runner import LaunchError, RunsFailed
from .slurm import check_flock, load_settings, train_slurm

EXECUTORS = ("local", "slurm", "debug")
# Seconds per training image per epoch, by kind of run, when no finished run of that kind is there to measure
# (measured on this project's 2-core machine: one process per core, evaluation included).
FALLBACK_SECONDS_PER_IMAGE = {"autoencoder": 3.0e-4, "classifier": 1.4e-4, "frozen": 0.9e-4}


def default_workers() -> int:
    """Parallel training processes: $FMNIST_WORKERS (make's WORKERS), else one per core."""
    text = workers_setting()
    if text and (not text.isdigit() or int(text) < 1):
        raise ConfigError(f"WORKERS={text!r} is not allowed; allowed: an integer >= 1")
    return int(text) if text else os.cpu_count() or 1


def plan_missing(cfgs, root: Path | None = None, priority=None, retrain_stale: bool = False) -> list[Config]:
    """The runs of `cfgs` to train (not held; with `retrain_stale`, also those held but stale:
    cache.needs_training), with the autoencoders their classifiers start from, in training order: `priority(cfg)` (a
    sort key; none by default), then autoencoders, classifiers that need none, pretrained classifiers, longest first
    (so the last runs to start are short ones)."""
    def needed(c):
        return cache.needs_training(c, root) if retrain_stale else not cache.is_cached(c, root)
    missing = [c for c in with_autoencoders(filter(needed, cfgs)) if needed(c)]
    missing.sort(key=lambda c: (priority(c) if priority else 0, c.model != "autoencoder", c.pretrained,
                                -c.epochs * c.train_size / c.batch_size ** 0.5))
    return missing


def ensure_runs(cfgs, workers: int | None = None, root: Path | None = None, priority=None,
                retrain_stale: bool = False) -> list[cache.RunResult]:
    """All runs of `cfgs`, training the missing ones (plan_missing's order) in `workers` parallel processes, one GPU
    each where there are GPUs, under one progress bar."""
    cfgs = list(cfgs)
    missing = plan_missing(cfgs, root, priority, retrain_stale)
    if missing:
        epoch_seconds = cached_epoch_seconds(root=root)
        basis = ("from this machine's measured epoch times" if epoch_seconds.measured else
                 "from the project's reference epoch times: this run cache holds no finished run to measure")
        train_local(missing, workers or default_workers(), Path(root) if root else runs_dir(), epoch_seconds, basis)
    return [cache.get_run(c, root=root) for c in cfgs]


def train_all(profile: str, workers: int | None = None, retrain_stale: bool = False) -> int:
    """Train every run of a profile's report; prints a plan first. The study's main question (the baseline and
    the comparison's arms) is trained first, so a run that stops part-way leaves whole experiments behind. With
    `retrain_stale` (set_retrain_stale first), the held runs cache.stale rejects are trained again, before the rest."""
    cfgs = all_configs(profile)
    held = sum(map(cache.is_cached, cfgs))
    again = cache.stale_runs(cfgs)
    print(f"profile {profile}: {len(cfgs)} runs" + (", all in the run cache or the store: nothing to train"
                                                     if held == len(cfgs) and not again else f", {held} held")
          + (f", {len(again)} of them " + ("to train again first" if retrain_stale else "left as they are, though "
             "`make runs-pinned` would train them again") + " (published from no commit, or not from their "
             "autoencoder's copy: cache.stale)" if again else ""), file=sys.stderr)
    ensure_runs(cfgs, workers, priority=retrain_first(again if retrain_stale else [], training_priority(profile)),
                retrain_stale=retrain_stale)
    return len(cfgs)


def retrain_first(stale, priority):
    """A sort key that trains the held runs that cache.stale rejects (`stale`, and their autoencoders) before all
    others, autoencoders first (the classifiers that start from them wait for them), then `priority`."""
    again = {c.key() for c in with_autoencoders(stale)}
    return lambda c: (c.key() not in again, c.key() in again and c.model != "autoencoder", priority(c))


def set_retrain_stale() -> None:
    """Let this process's training, its workers' and its Slurm tasks' retrain the runs cache.stale rejects
    ($FMNIST_RETRAIN_STALE); LaunchError in a checkout with uncommitted changes, whose runs no commit reproduces."""
    if "uncommitted" in git_commit():
        raise LaunchError("--retrain-stale trains published runs again so that a commit reproduces them, and this "
                          "checkout has uncommitted changes; commit them, or use `make runs-pinned`")
    os.environ["FMNIST_RETRAIN_STALE"] = "1"


def _kind(cfg: Config) -> str:
    return "frozen" if cfg.frozen else cfg.model


def measured_rates(root: Path | None = None) -> dict[tuple[str, int], float]:
    """Seconds per training image per epoch (evaluation included) of each kind of run and training size, the median
    over the finished runs in this machine's run cache (the store's runs were trained elsewhere)."""
    import json

    samples: dict[tuple[str, int], list[float]] = {}
    for entry in sorted((root or runs_dir()).glob("*/history.json")):
        try:
            cfg = Config(**json.loads((entry.parent / "config.json").read_text()))
            seconds = json.loads(entry.read_text()).get("epoch_seconds") or []
        except (OSError, ValueError, TypeError, ConfigError):
            continue
        if seconds:
            samples.setdefault((_kind(cfg), cfg.train_size), []).append(sum(seconds) / (len(seconds) * cfg.train_size))
    return {key: sorted(v)[len(v) // 2] for key, v in samples.items()}


def cached_epoch_seconds(cfgs=None, root: Path | None = None) -> callable:
    """seconds(cfg) of one epoch of `cfg` here: at the measured rate of its kind at the nearest training size in this
    machine's run cache (measured_rates), else FALLBACK_SECONDS_PER_IMAGE."""
    import math

    rates = measured_rates(root)

    def seconds(c: Config) -> float:
        sizes = [size for kind, size in rates if kind == _kind(c)]
        if not sizes:
            return c.train_size * FALLBACK_SECONDS_PER_IMAGE[_kind(c)]
        nearest = min(sizes, key=lambda size: abs(math.log(size / c.train_size)))
        return c.train_size * rates[(_kind(c), nearest)]
    seconds.measured = bool(rates)
    return seconds


def estimate_seconds(cfgs, workers: int | None = None, epoch_seconds=None) -> float:
    """Wall time to train `cfgs` with `workers` processes: epochs x `epoch_seconds(cfg)` (default:
    cached_epoch_seconds) summed over runs, over the processes that have a run."""
    cfgs = list(cfgs)
    epoch_seconds = epoch_seconds or cached_epoch_seconds(cfgs)
    total = sum(c.epochs * epoch_seconds(c) for c in cfgs)
    return total / max(1, min(workers or default_workers(), len(cfgs) or 1))


def plan_text(missing: list[Config], workers: int | None = None) -> str:
    """What is about to be trained: how many runs, which, and the estimated wall time."""
    minutes = estimate_seconds(missing, workers) / 60
    names = "; ".join(c.label() for c in missing[:6]) + ("; …" if len(missing) > 6 else "")
    return (f"training {len(missing)} run(s) not in the cache, about {minutes:.0f} min here "
            f"({minutes / 60:.1f} h)" if minutes >= 90 else
            f"training {len(missing)} run(s) not in the cache, about {max(minutes, 0.1):.1f} min here") + f": {names}"


def cache_status() -> list[str]:
    """What the run cache and the results stores hold: a heading, then one line per profile with how many of the
    runs its report needs are there (complete, partly, none)."""
    stores = store_dirs()
    names = [str(s.relative_to(ROOT)) if s.is_relative_to(ROOT) else str(s) for s in stores]
    lines = [f"runs held in the run cache {runs_dir()}" + (f" and the results store(s) {', '.join(names)}"
                                                            if stores else "") + ":"]
    for profile in PROFILES:
        cfgs = all_configs(profile)
        held = sum(cache.is_cached(c) for c in cfgs)
        where = [f"run cache {sum((cache.entry_dir(c) / 'meta.json').is_file() for c in cfgs)}"]
        where += [f"{name} {sum((s / c.key()).is_dir() for c in cfgs)}" for s, name in zip(stores, names)]
        state = "complete" if held == len(cfgs) else "partly" if held else "none"
        lines.append(f"  {profile:6s} {held:4d} of {len(cfgs):4d} runs: {state:8s} ({', '.join(where)})")
    return lines


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, as every bad input in this project
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _number(minimum: int):
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: an integer >= {minimum}")
        return int(text)
    return parse


def main(argv=None) -> int:
    """`make runs`: train every run of a profile's report with the chosen executor; `--status`: what is held."""
    parser = _Parser(prog="python -m fmnist_lib.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", nargs="?")
    parser.add_argument("--status", action="store_true",
                        help="print how many runs of each profile are held, train nothing")
    parser.add_argument("--retrain-stale", action="store_true",
                        help="also train again the held runs that no commit reproduces (cache.stale); a clean checkout")
    parser.add_argument("--executor", choices=EXECUTORS, default="local")
    parser.add_argument("--workers", type=_number(1), help="local: parallel processes (default: one per core)")
    parser.add_argument("--config", help="slurm/debug: a YAML file of settings (see slurm.example.yaml)")
    parser.add_argument("--partition")
    parser.add_argument("--time-min", type=_number(1))
    parser.add_argument("--gpus-per-task", type=_number(0))
    parser.add_argument("--cpus-per-task", type=_number(1))
    parser.add_argument("--array-parallelism", type=_number(1))
    parser.add_argument("--slurm-args", default="", help="extra sbatch options, e.g. '--account=abc --qos=high'")
    args = parser.parse_args(argv)
    if args.status:
        print("\n".join(cache_status()))
        return 0
    if args.profile is None:
        parser.error("the following arguments are required: profile")
    try:
        get_profile(args.profile)
        root = runs_dir().resolve()
        check_flock(root)
        if args.retrain_stale:
            set_retrain_stale()
        if args.executor == "local":
            train_all(args.profile, args.workers, args.retrain_stale)
        else:
            settings = load_settings(args.config, args.slurm_args, partition=args.partition,
                                     time_min=args.time_min, gpus_per_task=args.gpus_per_task,
                                     cpus_per_task=args.cpus_per_task, array_parallelism=args.array_parallelism)
            cfgs = all_configs(args.profile)
            missing = plan_missing(cfgs, root, retrain_first(
                cache.stale_runs(cfgs, root), lambda c: 0)
                if args.retrain_stale else None, args.retrain_stale)
            if missing:
                train_slurm(missing, args.executor, settings, root)
            else:
                print(f"all {len(cfgs)} runs are cached in {root}", file=sys.stderr)
    except (ConfigError, LaunchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunsFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: one line (train_slurm has said its own for Slurm, whose tasks go on)
        if args.executor != "slurm":
            print(f"interrupted: the runs that finished stay in the run cache {runs_dir()}; run the same command "
                  f"again to train the rest", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
