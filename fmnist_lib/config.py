"""One frozen, self-validating configuration per training run, and the profiles that size them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass

# Bump when a change to the code alters what a cached run contains: old entries are then re-trained.
CACHE_VERSION = 3

MODELS = ("autoencoder", "classifier")
OPTIMIZERS = ("adam", "sgd")
ACTIVATIONS = ("sigmoid", "relu")
# scratch: encoder trained with the head; pretrained-frozen: the autoencoder's encoder, its parameters left out of the
# optimizer and its dropout on while training (the statement's freezing, the study's arm); pretrained-frozen-eval: the
# same with the encoder in eval mode (dropout off) while training; pretrained-finetune: the autoencoder's encoder,
# trained further; random-frozen: untrained, frozen the statement's way (a control).
ENCODERS = ("scratch", "pretrained-frozen", "pretrained-frozen-eval", "pretrained-finetune", "random-frozen")
# relu: the statement's head, Linear(n->10) ReLU Dropout on the 10 logits; linear: Linear(n->10) alone.
HEADS = ("relu", "linear")

# Fields that do not change what a run computes for a given model; left out of its cache key.
_CLASSIFIER_ONLY = ("encoder", "head", "ae_epochs")
_AUTOENCODER_ONLY = ("activation",)


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message names field, value and what is allowed."""


@dataclass(frozen=True)
class Config:
    """Every hyperparameter of one training run, with the study's defaults."""

    model: str = "autoencoder"
    n: int = 64  # latent size
    lr: float = 1e-3
    dropout: float = 0.2
    batch_size: int = 100
    optimizer: str = "adam"
    epochs: int = 30
    activation: str = "sigmoid"  # autoencoder output
    encoder: str = "scratch"  # classifier only
    head: str = "relu"  # classifier only
    ae_epochs: int = 30  # epochs of the autoencoder that pretrains a classifier's encoder
    seed: int = 0
    train_size: int = 50_000  # images of the 50k training split used
    eval_size: int = 10_000  # images of the validation and of the test split used
    threads: int = 1  # torch intra-op threads: part of the result on CPU, so part of the key
    channels_last: bool = True  # memory layout: also changes the low bits of the result

    def __post_init__(self) -> None:
        _check_type(self)
        _check_choice("model", self.model, MODELS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("encoder", self.encoder, ENCODERS)
        _check_choice("head", self.head, HEADS)
        _check_range("dropout", self.dropout, 0 <= self.dropout < 1, "a number in [0, 1)")
        _check_range("lr", self.lr, self.lr > 0, "a number > 0")
        _check_range("n", self.n, 1 <= self.n <= 784, "an integer in [1, 784]")
        for name in ("batch_size", "epochs", "ae_epochs", "train_size", "eval_size", "threads"):
            value = getattr(self, name)
            _check_range(name, value, value >= 1, "an integer >= 1")
        _check_range("seed", self.seed, self.seed >= 0, "an integer >= 0")

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed; an unknown field name raises ConfigError."""
        check_names(changes)
        return dataclasses.replace(self, **changes)

    @property
    def pretrained(self) -> bool:
        return self.model == "classifier" and self.encoder.startswith("pretrained")

    @property
    def frozen(self) -> bool:
        """A classifier whose encoder the optimizer does not train."""
        return self.model == "classifier" and "frozen" in self.encoder

    def autoencoder_config(self) -> "Config":
        """The autoencoder whose encoder this classifier starts from (same n, dropout, seed, data, layout)."""
        return Config(
            model="autoencoder", n=self.n, dropout=self.dropout, epochs=self.ae_epochs, seed=self.seed,
            train_size=self.train_size, eval_size=self.eval_size,
            threads=self.threads, channels_last=self.channels_last,
        )

    def relevant(self) -> dict:
        """The fields that decide this run's result, for its key and its stored record."""
        drop = _CLASSIFIER_ONLY if self.model == "autoencoder" else _AUTOENCODER_ONLY
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in drop}
        if self.model == "classifier" and not self.pretrained:
            fields.pop("ae_epochs")
        return fields

    def key(self) -> str:
        """Canonical name of this run in the cache: a hash of its relevant fields and the cache version."""
        text = json.dumps({"cache_version": CACHE_VERSION, **self.relevant()}, sort_keys=True)
        return f"{self.model[:2]}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def label(self) -> str:
        """Short human-readable description, e.g. 'classifier n=64 lr=0.001 seed=0' (every field that tells runs of
        one profile apart: the small-data sweep's training size too, not a profile's own training size)."""
        default, fields = Config(model=self.model), ("n", "lr", "dropout", "batch_size", "optimizer", "activation",
                                                      "encoder", "head", "train_size", "seed")
        mine = self.relevant()
        # a profile's own sizing (its training size, evaluation size and epochs) tells none of its runs apart
        sized = any((self.train_size, self.eval_size, self.epochs) == (
            p.train_size, p.eval_size, p.ae_epochs if self.model == "autoencoder" else p.clf_epochs)
            for p in PROFILES.values())
        shown = {k: mine[k] for k in fields if k in mine and (k in ("n", "seed") or (
            mine[k] != getattr(default, k) and not (k == "train_size" and sized)))}
        return f"{self.model} " + " ".join(f"{k}={v}" for k, v in shown.items())


FIELDS = tuple(f.name for f in dataclasses.fields(Config))


def check_names(names) -> None:
    """Raise ConfigError naming the first unknown configuration field."""
    for name in names:
        if name not in FIELDS:
            raise ConfigError(f"unknown config field {name!r}; allowed: {', '.join(FIELDS)}")


# A number written as text (papermill's `-y 'values: [1e-3]'` passes '1e-3': YAML 1.1 reads it as a string); nbrun's
# YAML reads the same texts as numbers.
NUMBER_TEXT = {int: re.compile(r"[-+]?[0-9]+"),
                float: re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")}


def _check_type(cfg: Config) -> None:
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        expected = {"int": int, "float": float, "str": str, "bool": bool}[f.type]
        if expected in NUMBER_TEXT and isinstance(value, str) and NUMBER_TEXT[expected].fullmatch(value):
            value = expected(value)  # only text that is exactly a number of the field's type: '1e-3', '64'
            object.__setattr__(cfg, f.name, value)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(cfg, f.name, float(value))  # lr=1 means 1.0
            continue
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{f.name}={value!r} has type {type(value).__name__}; allowed: {f.type}")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; allowed: {', '.join(allowed)}")


def _check_range(name: str, value, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is out of range; allowed: {allowed}")


@dataclass(frozen=True)
class Profile:
    """How big a report run is: epochs, data sizes and seeds."""

    name: str
    ae_epochs: int
    clf_epochs: int
    train_size: int
    eval_size: int
    seeds: tuple[int, ...]  # every setting of the sweeps
    arm_seeds: tuple[int, ...]  # the comparison's other arms (pretrained-frozen-eval, -finetune, random-frozen)
    # the study's two arms (scratch, pretrained-frozen) and the baseline autoencoder: the main question gets the most
    study_seeds: tuple[int, ...]
    small_train_size: int  # training images of the small-data dropout sweep (where overfitting can exist)


PROFILES = {
    # the study's: Config's defaults (30 autoencoder epochs, 50k/10k images) and 20 classifier epochs
    "full": Profile("full", ae_epochs=Config.ae_epochs, clf_epochs=20, train_size=Config.train_size,
                    eval_size=Config.eval_size, seeds=tuple(range(5)), arm_seeds=tuple(range(5)),
                    study_seeds=tuple(range(10)), small_train_size=5_000),
    "quick": Profile("quick", ae_epochs=4, clf_epochs=4, train_size=20_000, eval_size=10_000, seeds=(0,),
                     arm_seeds=(0,), study_seeds=(0, 1, 2), small_train_size=2_000),
    "smoke": Profile("smoke", ae_epochs=1, clf_epochs=1, train_size=1_000, eval_size=500, seeds=(0,), arm_seeds=(0,),
                     study_seeds=(0,), small_train_size=500),
}


def get_profile(name: str) -> Profile:
    """The named profile; an unknown name raises ConfigError."""
    if name not in PROFILES:
        raise ConfigError(f"profile={name!r} is not allowed; allowed: {', '.join(PROFILES)}")
    return PROFILES[name]


def make_config(profile: str = "full", model: str = "autoencoder", **overrides) -> Config:
    """The study's default run of `model`, sized by `profile`, with `overrides` applied and validated."""
    check_names(overrides)
    p = get_profile(profile)
    base = dict(
        model=model,
        epochs=p.ae_epochs if model == "autoencoder" else p.clf_epochs,
        ae_epochs=p.ae_epochs, train_size=p.train_size, eval_size=p.eval_size, seed=p.seeds[0],
    )
    return Config(**{**base, **overrides})
