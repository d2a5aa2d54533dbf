"""What the report runs: the study's sweeps and classifier arms, as configs, and their results over seeds."""

from __future__ import annotations

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
# The head ablation: the study's ReLU on the logits against plain logits, on the two main arms.
HEAD_ABLATION = {f"{arm} / {head} head": {**ARMS[arm], "head": head}
                 for arm in ("scratch", "pretrained-frozen") for head in ("relu", "linear")}
# The pairs of arms whose difference the text tests.
ARM_PAIRS = (("scratch", "pretrained-frozen"), ("pretrained-frozen-eval", "pretrained-frozen"),
             ("pretrained-frozen", "random-frozen"), ("pretrained-finetune", "scratch"))
HEAD_PAIRS = tuple((f"{arm} / linear head", f"{arm} / relu head") for arm in ("scratch", "pretrained-frozen"))


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
        raise ConfigError(f"values={values!r} is not a list; allowed: a non-empty list of {sweep.param} values")
    if len(values) == 0:
        raise ConfigError(f"values=[] is empty; allowed: a non-empty list of {sweep.param} values")
    for name in (sweep.param, "seed", "model"):
        if name in overrides:
            raise ConfigError(f"overrides may not set {name!r}; allowed: other config fields (use values or seeds)")
    seeds = resolve_seeds(profile, seeds)
    settings = {**dict(sweep.fixed), **overrides}  # overrides win over the sweep's fixed settings
    return {v: [make_config(profile, sweep.model, **settings, **{sweep.param: v}, seed=s) for s in seeds]
            for v in values}


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


def collect(groups: dict, train: bool = True, workers: int | None = None) -> dict[object, Group]:
    """{label: Group} from {label: [Config]}; trains what is missing unless train=False (then MissingRun)."""
    if train:
        ensure_runs([c for cfgs in groups.values() for c in cfgs], workers)
    return {label: Group(label, [get_run(c, train=False) for c in cfgs]) for label, cfgs in groups.items()}


def missing_runs(groups: dict) -> list[Config]:
    """The configs of `groups` that are not in the cache."""
    out = []
    for cfgs in groups.values():
        for c in cfgs:
            try:
                get_run(c, train=False)
            except MissingRun:
                out.append(c)
    return out


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


def report_groups(profile: str) -> dict[str, dict[object, Group]]:
    """Every result the summary report shows, from the cache only; names all missing runs if any are."""
    plan = report_plan(profile)
    missing = {c.key(): c for groups in plan.values() for c in missing_runs(groups)}
    if missing:
        raise MissingRun(f"{len(missing)} run(s) of profile {profile!r} are not in the cache "
                         f"(run `make report PROFILE={profile}`): "
                         + "; ".join(c.label() for c in missing.values()))
    return {name: collect(groups, train=False) for name, groups in plan.items()}


def predictions(group: Group):
    """(true labels, predicted labels) on the test split, concatenated over the group's seeds."""
    from .data import load_fashion_mnist
    from .train import predict

    y_true, y_pred = [], []
    for r in group.runs:
        test = load_fashion_mnist(r.config.train_size, r.config.eval_size).test
        y_true.append(test.y)
        y_pred.append(predict(r.model(), test.x).argmax(1))
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


def main(argv=None) -> int:
    """`python -m fmnist_lib.experiments PROFILE [WORKERS]`: train every run the report needs."""
    args = list(argv if argv is not None else sys.argv[1:])
    try:
        train_all(args[0] if args else "full", int(args[1]) if len(args) > 1 else None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
