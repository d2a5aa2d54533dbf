"""The results: the runs of each configuration over seeds (Group), collected from the run cache and the published
store (fmnist_lib.launch trains what is missing, when allowed), and what is read off them: summary tables, the best
value, test predictions and confusion matrices. The plan of what runs the report needs is fmnist_lib.plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .cache import MissingRun, get_run, is_cached
from .config import PROFILES, Config, get_profile
from .data import load_fashion_mnist
from .launch import ensure_runs, plan_text
from .metrics import confusion, mean_std, most_confused
from .plan import Sweep, all_configs, report_plan, with_autoencoders
from .train import RunResult, predict


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


def final_value(run: RunResult, metric: str) -> float:
    """The last epoch's value of `metric` in one run; NaN if the run diverged or has no such value."""
    h = run.history.get(metric) or []
    return np.nan if run.diverged or not h else float(h[-1])


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
        return np.array([final_value(r, metric) for r in self.runs])

    @property
    def seconds(self) -> float:
        return sum(r.meta["wall_seconds"] for r in self.runs)


def complete_profiles() -> list[str]:
    """The profiles whose every run is in the run cache or the published store, largest first."""
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


def missing_runs(groups: dict, root: Path | None = None) -> list[Config]:
    """The configs of `groups`, and the autoencoders their pretrained classifiers start from, that are neither in
    the run cache (at `root`, default runs_dir()) nor in the published store (checked without loading anything)."""
    return [c for c in with_autoencoders(c for cs in groups.values() for c in cs) if not is_cached(c, root)]


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


def report_groups(profile: str, partial: bool = False, root: Path | None = None) -> dict[str, dict[object, Group]]:
    """Every result the summary report shows, from the run cache (at `root`, default runs_dir()) and the published
    store only, each run loaded once. A missing run raises MissingRun naming them all, unless `partial`: then each
    setting holds the seeds that are there, and a setting or experiment with none is left out (report_plan(profile)
    lists them all)."""
    plan = report_plan(profile)
    missing = {c.key(): c for groups in plan.values() for c in missing_runs(groups, root)}
    if missing and not partial:
        raise MissingRun(f"{len(missing)} run(s) of profile {profile!r} are not in the cache "
                         f"(run `make report PROFILE={profile}`): "
                         + "; ".join(c.label() for c in missing.values()))
    loaded: dict[str, RunResult] = {}

    def load_once(c: Config) -> RunResult:
        if c.key() not in loaded:
            loaded[c.key()] = get_run(c, train=False, root=root)
        return loaded[c.key()]

    out = {}
    for name, groups in plan.items():
        held = {label: [load_once(c) for c in cfgs if c.key() not in missing] for label, cfgs in groups.items()}
        if any(held.values()):
            out[name] = {label: Group(label, runs) for label, runs in held.items() if runs}
    return out


def held_runs(profile: str) -> list[RunResult]:
    """Every run of the profile's plan that the run cache or the published store holds, the autoencoders that only
    pretrain classifiers included: the runs the report's provenance and the README's answer count."""
    return [get_run(c, train=False) for c in all_configs(profile) if is_cached(c)]


def predictions(group: Group):
    """(true labels, predicted labels) on the test split, concatenated over the group's seeds: the predictions each
    run recorded at its last epoch (stored beside its history), computed from its weights only where absent."""
    y_true, y_pred = [], []
    for r in group.runs:
        test = load_fashion_mnist(r.config.train_size, r.config.eval_size).test
        y_true.append(test.y)
        y_pred.append(r.predictions.long() if r.predictions is not None else predict(r.model(), test.x).argmax(1))
    return torch.cat(y_true).numpy(), torch.cat(y_pred).numpy()


def confusions(groups: dict[object, Group], classes) -> tuple[dict, dict]:
    """Row-normalized test confusion matrix (counts summed over seeds) and most confused pairs, per group."""
    cms, pairs = {}, {}
    for name, group in groups.items():
        cms[name] = confusion(*predictions(group))
        pairs[name] = most_confused(cms[name], classes)
    return cms, pairs


def unpredicted_table(groups: dict[object, Group]) -> pd.DataFrame:
    """Per arm: how many of the 10 classes each seed never predicts on the test split at its last epoch (the
    statement's ReLU · Dropout head can silence a class's logit for good), and the test accuracy."""
    rows = []
    for name, g in groups.items():
        counts = [int(r.history["test_unpredicted"][-1]) if r.history.get("test_unpredicted") else np.nan
                  for r in g.runs]
        rows.append({"arm": name, "head": g.runs[0].config.head, "seeds": len(g.runs),
                     "classes never predicted, per seed": ", ".join(str(c) for c in counts),
                     "seeds with a silent class": sum(c > 0 for c in counts),
                     "test accuracy": mean_std(g.final("test_acc"))})
    return pd.DataFrame(rows)
