"""The results: the runs of each configuration over seeds (Group), collected from the run cache and the published
store (training what is missing when allowed), and what is read off them: summary tables, the best value, test
predictions and confusion matrices. The plan of what runs the report needs is fmnist_lib.experiments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .cache import MissingRun, ensure_runs, get_run
from .config import Config, get_profile
from .experiments import Sweep, all_configs, report_plan
from .train import RunResult


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
