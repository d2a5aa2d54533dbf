"""What the report runs: the study's sweeps and classifier arms, as configs, and their results over seeds."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import torch
import pandas as pd

from .cache import MissingRun, ensure_runs, get_run
from .config import ConfigError, Config, get_profile, make_config
from .train import RunResult


@dataclass(frozen=True)
class Sweep:
    model: str
    param: str
    values: tuple
    figure: str  # the study's figure it reproduces
    fixed: tuple = ()  # (field, value) pairs set on every run of the sweep

    @property
    def metrics(self) -> tuple[str, str, bool]:
        """(validation metric that chooses, its test counterpart, higher is better)."""
        return ("val_acc", "test_acc", True) if self.model == "classifier" else ("val_loss", "test_loss", False)


PRETRAINED = (("encoder", "pretrained-frozen"),)
SWEEPS = {
    "autoencoder-activation": Sweep("autoencoder", "activation", ("relu", "sigmoid"), "2"),
    "autoencoder-optimizer": Sweep("autoencoder", "optimizer", ("sgd", "adam"), "3"),
    "autoencoder-n": Sweep("autoencoder", "n", (16, 32, 64, 128, 256), "4"),
    "autoencoder-dropout": Sweep("autoencoder", "dropout", (0.0, 0.1, 0.2, 0.4), "5"),
    "autoencoder-lr": Sweep("autoencoder", "lr", (1e-4, 1e-3, 1e-2, 1e-1), "6"),
    "classifier-lr": Sweep("classifier", "lr", (1e-4, 1e-3, 1e-2), "10", PRETRAINED),
    "classifier-n": Sweep("classifier", "n", (16, 32, 64, 128, 256), "11", PRETRAINED),
    "classifier-batch_size": Sweep("classifier", "batch_size", (25, 50, 100, 200, 500), "12", PRETRAINED),
}

# The comparison's arms (name -> config overrides); the study compared the first two.
ARMS = {
    "scratch": {"encoder": "scratch"},
    "pretrained-frozen": {"encoder": "pretrained-frozen"},
    "pretrained-frozen-eval": {"encoder": "pretrained-frozen-eval"},
    "pretrained-finetune": {"encoder": "pretrained-finetune"},
    "random-frozen": {"encoder": "random-frozen"},
}
STUDY_ARMS = ("scratch", "pretrained-frozen")  # the two classifiers the study compared
# The head ablation: the study's ReLU on the logits against plain logits, on the two main arms.
HEAD_ABLATION = {f"{arm} / {head} head": {**ARMS[arm], "head": head}
                 for arm in ("scratch", "pretrained-frozen") for head in ("relu", "linear")}
# The pairs of arms whose difference the text tests.
ARM_PAIRS = (("scratch", "pretrained-frozen"), ("pretrained-frozen-eval", "pretrained-frozen"),
             ("pretrained-frozen", "random-frozen"), ("pretrained-finetune", "scratch"))
HEAD_PAIRS = tuple((f"{arm} / linear head", f"{arm} / relu head") for arm in ("scratch", "pretrained-frozen"))


def describe_sweep(groups: dict, spec: Sweep) -> str:
    """One line on what a sweep's runs are, read from the runs' own configs (overrides included)."""
    cfg = next(iter(groups.values())).runs[0].config
    what = f"**{spec.model}**, sweeping `{spec.param}` over {list(groups)} (study figure {spec.figure})"
    if spec.model == "classifier":
        what += f", encoder `{cfg.encoder}`, head `{cfg.head}`"
    shown = {k: v for k, v in cfg.relevant().items()
             if k in ("n", "lr", "dropout", "batch_size", "optimizer", "epochs", "train_size") and k != spec.param}
    return what + "; other settings: " + ", ".join(f"{k}={v}" for k, v in shown.items()) + \
        f"; seeds {[r.config.seed for r in next(iter(groups.values())).runs]}."


def get_sweep(name: str) -> Sweep:
    if name not in SWEEPS:
        raise ConfigError(f"sweep={name!r} is not allowed; allowed: {', '.join(SWEEPS)}")
    return SWEEPS[name]


def resolve_seeds(profile: str, seeds=None, arms: bool = False) -> tuple[int, ...]:
    """The profile's seeds (of the comparison's arms when `arms`), or `seeds` (a count, or a list) when given."""
    if seeds is None:
        return get_profile(profile).arm_seeds if arms else get_profile(profile).seeds
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError(f"seeds={seeds!r} is out of range; allowed: an integer >= 1 or a list of seeds")
        return tuple(range(seeds))
    if isinstance(seeds, (list, tuple)) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds):
        return tuple(seeds)
    raise ConfigError(f"seeds={seeds!r} is not allowed; allowed: an integer >= 1 or a non-empty list of "
                      f"integers >= 0")


def sweep_configs(name: str, profile: str, values=None, seeds=None, overrides=None) -> dict:
    """{value: [Config per seed]} for a sweep; `values` replaces the study's list and `overrides` (a mapping
    of config fields) changes the other settings of every run; both are validated here."""
    sweep = get_sweep(name)
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"overrides={overrides!r} is not a mapping; allowed: config fields and values, "
                          f"e.g. {{optimizer: sgd}}")
    if values is None:
        values = sweep.values
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"values={values!r} is not a list; allowed: a non-empty list of {sweep.param} values "
                          f"(papermill and make's PARAMS take a list as -y 'values: [..]', not -p)")
    if len(values) == 0:
        raise ConfigError(f"values=[] is empty; allowed: a non-empty list of {sweep.param} values")
    for name in (sweep.param, "seed", "model"):
        if name in overrides:
            raise ConfigError(f"overrides may not set {name!r}; allowed: other config fields (use values or seeds)")
    seeds = resolve_seeds(profile, seeds)
    settings = {**dict(sweep.fixed), **overrides}  # overrides win over the sweep's fixed settings
    groups = {}
    for v in values:
        cfgs = [make_config(profile, sweep.model, **settings, **{sweep.param: v}, seed=s) for s in seeds]
        groups[getattr(cfgs[0], sweep.param)] = cfgs  # the value as Config holds it: papermill's text '1e-3' is 0.001
    return groups


def arm_configs(profile: str, arms: dict = ARMS, seeds=None, **overrides) -> dict:
    """{arm name: [Config per seed]} for classifier arms (the profile's arm seeds unless `seeds` is given)."""
    seeds = resolve_seeds(profile, seeds, arms=True)
    return {name: [make_config(profile, "classifier", **{**overrides, **arm}, seed=s) for s in seeds]
            for name, arm in arms.items()}


def report_plan(profile: str) -> dict[str, dict]:
    """Every experiment the report shows: {experiment: {label: [Config per seed]}}."""
    plan = {"baseline": {"baseline": baseline_configs(profile)}}
    plan |= {name: sweep_configs(name, profile) for name in SWEEPS}
    return plan | {"arms": arm_configs(profile), "heads": arm_configs(profile, HEAD_ABLATION)}


def all_configs(profile: str) -> list[Config]:
    """Every run the report of a profile needs (duplicates removed)."""
    cfgs = [c for groups in report_plan(profile).values() for cfgs in groups.values() for c in cfgs]
    cfgs += [c.autoencoder_config() for c in cfgs if c.pretrained]  # the autoencoders they start from
    return list({c.key(): c for c in cfgs}.values())


class Group:
    """The runs of one configuration over seeds, with per-epoch mean and std."""

    def __init__(self, label, runs: list[RunResult]):
        self.label, self.runs = label, runs

    @property
    def diverged(self) -> bool:
        return any(r.diverged for r in self.runs)

    def curve(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std over seeds per epoch, over the epochs that every seed completed."""
        series = [r.history[metric] for r in self.runs]
        length = min(len(s) for s in series)
        values = np.array([s[:length] for s in series], dtype=float)
        return values.mean(0), values.std(0, ddof=1) if len(series) > 1 else np.zeros(length)

    def final(self, metric: str) -> np.ndarray:
        """The last epoch's value per seed; NaN for a seed that diverged."""
        return np.array([np.nan if r.diverged or not r.history[metric] else r.history[metric][-1]
                         for r in self.runs])

    @property
    def seconds(self) -> float:
        return sum(r.meta["wall_seconds"] for r in self.runs)


# Seconds per training image per epoch, by kind of run, when no finished run of that kind is there to measure
# (measured on this project's 2-core machine: one process per core, evaluation included).
FALLBACK_SECONDS_PER_IMAGE = {"autoencoder": 3.0e-4, "classifier": 1.4e-4, "frozen": 0.9e-4}


def _kind(cfg: Config) -> str:
    return "frozen" if cfg.frozen else cfg.model


def estimate_seconds(cfgs, workers: int | None = None) -> float:
    """Wall time to train `cfgs` with `workers` processes, from the epoch times of finished runs of each kind in
    the run cache (else FALLBACK_SECONDS_PER_IMAGE)."""
    from .cache import default_workers, is_cached, load

    rates = {}
    for c in cfgs:
        kind = _kind(c)
        if kind not in rates and is_cached(c):
            r = load(c)
            seconds = sum(r.history.get("epoch_seconds", []))
            if seconds:
                rates[kind] = seconds / (len(r.history["epoch_seconds"]) * c.train_size)
    total = sum(c.epochs * c.train_size * rates.get(_kind(c), FALLBACK_SECONDS_PER_IMAGE[_kind(c)]) for c in cfgs)
    return total / max(1, min(workers or default_workers(), len(cfgs) or 1))


def plan_text(missing: list[Config], workers: int | None = None) -> str:
    """What is about to be trained: how many runs, which, and the estimated wall time."""
    minutes = estimate_seconds(missing, workers) / 60
    names = "; ".join(c.label() for c in missing[:6]) + ("; …" if len(missing) > 6 else "")
    return (f"training {len(missing)} run(s) not in the cache, about {minutes:.0f} min here "
            f"({minutes / 60:.1f} h)" if minutes >= 90 else
            f"training {len(missing)} run(s) not in the cache, about {max(minutes, 0.1):.1f} min here") + f": {names}"


def complete_profiles() -> list[str]:
    """The profiles whose every run is in the run cache or the published store, largest first."""
    from .cache import is_cached
    from .config import PROFILES

    return [name for name in PROFILES if all(is_cached(c) for c in all_configs(name))]


def resolve_profile(profile: str | None) -> str:
    """`profile`, or for None the largest profile complete in the run cache or the published store, else quick;
    prints which, so an interactive Run All says at once what it shows."""
    if profile is not None:
        get_profile(profile)
        return profile
    done = complete_profiles()
    chosen = done[0] if done else "quick"
    print(f"profile: {chosen} " + ("(the largest profile complete in the run cache or the published store)"
                                   if done else "(no profile is complete in the run cache yet: quick trains in "
                                                "minutes)"))
    return chosen


def collect(groups: dict, train: bool = True, workers: int | None = None) -> dict[object, Group]:
    """{label: Group} from {label: [Config]}; trains what is missing unless train=False (then MissingRun),
    saying first what it will train and for about how long."""
    if train:
        missing = missing_runs(groups)
        if missing:
            print(plan_text(missing, workers), flush=True)
        cfgs = [c for cs in groups.values() for c in cs]
        loaded = {c.key(): r for c, r in zip(cfgs, ensure_runs(cfgs, workers))}
        return {label: Group(label, [loaded[c.key()] for c in cs]) for label, cs in groups.items()}
    return {label: Group(label, [get_run(c, train=False) for c in cs]) for label, cs in groups.items()}


def missing_runs(groups: dict) -> list[Config]:
    """The configs of `groups`, and the autoencoders their pretrained classifiers start from, that are neither in
    the run cache nor in the published store (checked without loading anything)."""
    from .cache import is_cached

    cfgs = {c.key(): c for cs in groups.values() for c in cs}
    for c in list(cfgs.values()):
        if c.pretrained:
            cfgs.setdefault(c.autoencoder_config().key(), c.autoencoder_config())
    return [c for c in cfgs.values() if not is_cached(c)]


def summary_table(groups: dict[object, Group], metrics: list[str]) -> pd.DataFrame:
    """One row per group: final value of each metric as mean and std over seeds, and the status."""
    rows = []
    for label, g in groups.items():
        row = {"value": label, "seeds": len(g.runs), "status": "diverged" if g.diverged else "ok"}
        for m in metrics:
            f = g.final(m)
            row[f"{m} mean"] = np.nan if np.isnan(f).any() else f.mean()
            row[f"{m} std"] = np.nan if np.isnan(f).any() or len(f) < 2 else f.std(ddof=1)
        rows.append(row)
    return pd.DataFrame(rows).set_index("value")


def best_value(groups: dict[object, Group], metric: str, higher_is_better: bool = False):
    """The label whose mean final `metric` on validation is best; diverged groups never win."""
    scores = {label: g.final(metric).mean() for label, g in groups.items() if not g.diverged}
    if not scores:
        return None
    pick = max if higher_is_better else min
    return pick(scores, key=scores.get)


def baseline_configs(profile: str, model: str = "autoencoder", seeds=None, **overrides) -> list[Config]:
    """The study's default run of `model` for each seed; overrides left at None keep the profile's value."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return [make_config(profile, model, **overrides, seed=s) for s in resolve_seeds(profile, seeds)]


def report_groups(profile: str, partial: bool = False) -> dict[str, dict[object, Group]]:
    """Every result the summary report shows, from the run cache and the published store only, each run loaded
    once. A missing run raises MissingRun naming them all, unless `partial`: then the experiments with a missing run
    are left out (report_plan(profile) lists them all)."""
    plan = report_plan(profile)
    missing = {c.key(): c for groups in plan.values() for c in missing_runs(groups)}
    if missing and not partial:
        raise MissingRun(f"{len(missing)} run(s) of profile {profile!r} are not in the cache "
                         f"(run `make report PROFILE={profile}`): "
                         + "; ".join(c.label() for c in missing.values()))
    loaded: dict[str, RunResult] = {}

    def load_once(c: Config) -> RunResult:
        if c.key() not in loaded:
            loaded[c.key()] = get_run(c, train=False)
        return loaded[c.key()]

    return {name: {label: Group(label, [load_once(c) for c in cfgs]) for label, cfgs in groups.items()}
            for name, groups in plan.items() if not missing_runs(groups)}


def predictions(group: Group):
    """(true labels, predicted labels) on the test split, concatenated over the group's seeds: the predictions each
    run recorded at its last epoch (stored beside its history), computed from its weights only where absent."""
    from .data import load_fashion_mnist
    from .train import predict

    y_true, y_pred = [], []
    for r in group.runs:
        test = load_fashion_mnist(r.config.train_size, r.config.eval_size).test
        y_true.append(test.y)
        y_pred.append(r.predictions.long() if r.predictions is not None else predict(r.model(), test.x).argmax(1))
    return torch.cat(y_true).numpy(), torch.cat(y_pred).numpy()


def confusions(groups: dict[object, Group], classes) -> tuple[dict, dict]:
    """Row-normalized test confusion matrix (counts summed over seeds) and most confused pairs, per group."""
    from .metrics import confusion, most_confused

    cms, pairs = {}, {}
    for name, group in groups.items():
        cms[name] = confusion(*predictions(group))
        pairs[name] = most_confused(cms[name], classes)
    return cms, pairs


def train_all(profile: str, workers: int | None = None) -> int:
    """Train every run of a profile's report; prints a plan first. The study's main question (the baseline and
    the comparison's arms) is trained first, so a run that stops part-way leaves whole experiments behind."""
    cfgs = all_configs(profile)
    first = {c.key() for name in ("baseline", "arms", "heads") for cs in report_plan(profile)[name].values()
             for c in cs}
    first |= {c.autoencoder_config().key() for c in cfgs if c.key() in first and c.pretrained}
    print(f"profile {profile}: {len(cfgs)} runs", file=sys.stderr)
    ensure_runs(cfgs, workers, priority=lambda c: c.key() not in first)
    return len(cfgs)


def cache_status() -> list[str]:
    """What the run cache and the results stores hold: a heading, then one line per profile with how many of the
    runs its report needs are there (complete, partly, none)."""
    from .cache import entry_dir, is_cached
    from .config import PROFILES
    from .paths import ROOT, runs_dir, store_dirs

    stores = store_dirs()
    names = [str(s.relative_to(ROOT)) if s.is_relative_to(ROOT) else str(s) for s in stores]
    lines = [f"runs held in the run cache {runs_dir()}" + (f" and the results store(s) {', '.join(names)}"
                                                            if stores else "") + ":"]
    for profile in PROFILES:
        cfgs = all_configs(profile)
        held = sum(is_cached(c) for c in cfgs)
        where = [f"run cache {sum((entry_dir(c) / 'meta.json').is_file() for c in cfgs)}"]
        where += [f"{name} {sum((s / c.key()).is_dir() for c in cfgs)}" for s, name in zip(stores, names)]
        state = "complete" if held == len(cfgs) else "partly" if held else "none"
        lines.append(f"  {profile:6s} {held:4d} of {len(cfgs):4d} runs: {state:8s} ({', '.join(where)})")
    return lines


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message}; {self.format_usage().strip()}\n")


def main(argv=None) -> int:
    """`python -m fmnist_lib.experiments PROFILE [WORKERS]`: train every run the report needs;
    `--status`: which profiles the run cache and the results stores hold."""
    parser = _Parser(prog="python -m fmnist_lib.experiments",
                     description="Train every run the report of PROFILE needs, WORKERS processes in parallel.")
    parser.add_argument("profile", nargs="?", default="full", help="full | quick | smoke (default: full)")
    parser.add_argument("workers", nargs="?", type=int, help="parallel processes (default: one per core)")
    parser.add_argument("--status", action="store_true",
                        help="print how many runs of each profile are held, train nothing")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error(f"WORKERS={args.workers} is out of range; allowed: an integer >= 1")
    try:
        if args.status:
            print("\n".join(cache_status()))
        else:
            train_all(args.profile, args.workers)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the runs that finished are in the run cache; run the same command again to train "
              "the rest", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
