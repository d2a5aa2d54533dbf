"""The plan: what the report runs — the study's sweeps and classifier arms, as configs, for each profile. The
results read off those runs are fmnist_lib.results; training them is fmnist_lib.launch.

`python -m fmnist_lib.plan --list` prints the sweeps' names (the Makefile's notebook targets come from it)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from .config import ConfigError, Config, get_profile, make_config


@dataclass(frozen=True)
class Sweep:
    model: str
    param: str
    values: tuple
    figure: str  # the study's figure it reproduces
    fixed: tuple = ()  # (field, value) pairs set on every run of the sweep
    small_data: bool = False  # trained on the profile's small_train_size images (the premise of figure 5's claim),
    # with the profile's study seeds: its rows compare two of its own settings (5 vs 5 seeds cannot pass Holm)

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
    # the same sweep where overfitting can exist: 5,000 training images (full), same epochs
    "autoencoder-dropout-small": Sweep("autoencoder", "dropout", (0.0, 0.1, 0.2, 0.4), "5", small_data=True),
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
# Every classifier setting is trained under both heads: the statement's (relu) and plain logits (linear). The plan
# names a setting's plain-logits experiment after its own, with this suffix.
LINEAR = " / linear head"
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


def resolve_seeds(profile: str, seeds=None, arms: bool = False, study: bool = False) -> tuple[int, ...]:
    """The profile's seeds (of the study's two arms and its baseline when `study`, of the other arms when `arms`),
    or `seeds` (a count, or a list) when given."""
    if seeds is None:
        p = get_profile(profile)
        return p.study_seeds if study else p.arm_seeds if arms else p.seeds
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
    seeds = resolve_seeds(profile, seeds, study=sweep.small_data)
    settings = {**dict(sweep.fixed), **overrides}  # overrides win over the sweep's fixed settings
    if sweep.small_data:
        settings.setdefault("train_size", get_profile(profile).small_train_size)
    base = make_config(profile, sweep.model, **settings)  # variants of one config, as nanoGPT does
    groups = {}
    for v in values:
        cfgs = [base.replace(**{sweep.param: v}, seed=s) for s in seeds]
        groups[getattr(cfgs[0], sweep.param)] = cfgs  # the value as Config holds it: papermill's text '1e-3' is 0.001
    return groups


def arm_configs(profile: str, arms: dict = ARMS, seeds=None, **overrides) -> dict:
    """{arm name: [Config per seed]} for classifier arms: unless `seeds` is given, the profile's study seeds for the
    study's two arms and its arm seeds for the others."""
    base = make_config(profile, "classifier", **overrides)
    return {name: [base.replace(**arm, seed=s)
                   for s in resolve_seeds(profile, seeds, arms=True, study=arm.get("encoder") in STUDY_ARMS)]
            for name, arm in arms.items()}


def report_plan(profile: str) -> dict[str, dict]:
    """Every experiment the report shows: {experiment: {label: [Config per seed]}}. Every classifier experiment
    comes twice: under the statement's head, and under plain logits (its name + LINEAR)."""
    plan = {"baseline": {"baseline": baseline_configs(profile)}}
    for name, sweep in SWEEPS.items():
        plan[name] = sweep_configs(name, profile)
        if sweep.model == "classifier":
            plan[name + LINEAR] = sweep_configs(name, profile, overrides={"head": "linear"})
    plan |= {"arms": arm_configs(profile), "arms" + LINEAR: arm_configs(profile, head="linear")}
    return plan | {"heads": arm_configs(profile, HEAD_ABLATION)}


def all_configs(profile: str) -> list[Config]:
    """Every run the report of a profile needs (duplicates removed)."""
    return with_autoencoders(c for groups in report_plan(profile).values() for cfgs in groups.values() for c in cfgs)


def with_autoencoders(cfgs) -> list[Config]:
    """`cfgs` and, after them, the autoencoders their pretrained classifiers start from; each run once."""
    cfgs = list(cfgs)
    cfgs += [c.autoencoder_config() for c in cfgs if c.pretrained]
    return list({c.key(): c for c in cfgs}.values())


def baseline_configs(profile: str, model: str = "autoencoder", seeds=None, **overrides) -> list[Config]:
    """The study's default run of `model` for each seed (the profile's study seeds: the baseline autoencoder starts
    the study's pretrained arm); overrides left at None keep the profile's value."""
    base = make_config(profile, model, **{k: v for k, v in overrides.items() if v is not None})
    return [base.replace(seed=s) for s in resolve_seeds(profile, seeds, study=True)]


def training_priority(profile: str):
    """A sort key for training a profile's missing runs, the most needed first. A two-group row compares a setting
    with the baseline's 10 seeds by an exact permutation test: at 3 seeds it cannot go below 2/C(13, 3) = 0.007,
    above what Holm asks of the first rows of a family of 20-odd (0.05/25 = 0.002), so it can pass only late in
    Holm's order; at 5 seeds it reaches 2/C(15, 5) = 0.0007.
    So: 0 the study's two arms under both heads (10 seeds) and the baseline autoencoders they start from; 1 the
    seeds that complete a setting of the statement's sweeps to 5, and the small-data sweep's p = 0 and p = 0.2 (its
    premise row compares them, 10 vs 10); 2 the plain-logits settings (all new, their first autoencoders held); 3
    the rest (the small-data sweep's other values)."""
    plan = report_plan(profile)
    rank: dict[str, int] = {}

    def mark(cfgs, level):
        for c in cfgs:
            for key in (c.key(), c.autoencoder_config().key() if c.pretrained else None):
                if key:
                    rank[key] = min(rank.get(key, 9), level)

    for cfgs in plan["heads"].values():
        mark(cfgs, 0)
    for name, groups in plan.items():
        for value, cfgs in groups.items():
            if name.endswith(LINEAR):
                mark(cfgs, 2)
            elif name == "autoencoder-dropout-small":
                mark(cfgs, 1 if value in (0.0, 0.2) else 3)
            elif name in SWEEPS:
                mark(cfgs, 1)
    # within a rank, the classifiers that need no autoencoder first: they finish soonest
    return lambda c: (rank.get(c.key(), 3), c.model == "autoencoder" or c.pretrained)


def main(argv=None) -> int:
    """`python -m fmnist_lib.plan --list`: the sweeps' names, one per line."""
    parser = argparse.ArgumentParser(prog="python -m fmnist_lib.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", required=True, help="print the sweeps' names, one per line")
    parser.parse_args(argv)
    print("\n".join(SWEEPS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
