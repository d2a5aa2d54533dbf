"""The study's conclusions, each tested against measured results by a stated rule.

Input: {experiment: {value: {metric: array of final values over seeds}}} where experiment is a sweep name
(see experiments.SWEEPS) or "arms" (the comparison's classifier arms). A diverged seed is NaN.

Rule. A claim is split into pairwise parts "A beats B" on one metric (validation metrics for the sweeps,
test accuracy for the arms, which are final results and not a choice). A part
- agrees when A's mean is better than B's and, with at least 2 seeds on each side, Welch's t-test gives
  p < 0.05; a diverged side always loses;
- is indistinguishable when there are at least 2 seeds on each side and p >= 0.05;
- contradicts when B's mean is better and the test (if any) gives p < 0.05.
With 1 seed, parts are judged by direction alone and the evidence column says the noise is not assessed.
Verdict: confirmed if every part agrees, not confirmed if none does, mixed otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import welch

ALPHA = 0.05
FAIL_FACTOR = 2.0  # "diverges": non-finite, or a final loss more than this times the reference's


@dataclass(frozen=True)
class Part:
    text: str
    outcome: str  # agrees | indistinguishable | contradicts
    p: float


def _mean(a) -> float:
    a = np.asarray(a, dtype=float)
    return np.nan if np.isnan(a).any() else float(a.mean())


def beats(a, b, name_a: str, name_b: str, metric: str, higher_is_better: bool) -> Part:
    """Part "a beats b" on `metric` under the module's rule."""
    ma, mb = _mean(a), _mean(b)
    text = f"{name_a} ({_fmt(ma)}) vs {name_b} ({_fmt(mb)}) on {metric}"
    if np.isnan(ma) or np.isnan(mb):
        return Part(text, "agrees" if np.isnan(mb) and not np.isnan(ma) else "contradicts", np.nan)
    p = welch(a, b)
    if not np.isnan(p) and p >= ALPHA:
        return Part(text, "indistinguishable", p)
    better = ma > mb if higher_is_better else ma < mb
    return Part(text, "agrees" if better else "contradicts", p)


def fails(a, reference, name: str, metric: str) -> Part:
    """Part "a fails to train": diverged, or its final loss is over FAIL_FACTOR times the reference's."""
    ma, mr = _mean(a), _mean(reference)
    ok = np.isnan(ma) or (not np.isnan(mr) and ma > FAIL_FACTOR * mr)
    return Part(f"{name} {'diverged' if np.isnan(ma) else f'final {metric} {_fmt(ma)}'} "
                f"(fails if non-finite or > {FAIL_FACTOR:g}x {_fmt(mr)})", "agrees" if ok else "contradicts", np.nan)


def _fmt(x: float) -> str:
    return "diverged" if np.isnan(x) else f"{x:.4g}"


def _ordered(r: dict, exp: str, metric: str, larger_value_wins: bool, higher_is_better: bool, param: str):
    values = sorted(r[exp])
    parts = []
    for lo, hi in zip(values, values[1:]):
        win, lose = (hi, lo) if larger_value_wins else (lo, hi)
        parts.append(beats(r[exp][win][metric], r[exp][lose][metric], f"{param}={win}", f"{param}={lose}",
                           metric, higher_is_better))
    return parts


def _claims(r: dict):
    """(claim, figure, parts) for each conclusion of the study whose experiment is present."""
    lo, hi = False, True
    if "autoencoder-activation" in r:
        s = r["autoencoder-activation"]
        yield "Sigmoid output beats ReLU output (autoencoder)", "2", [
            beats(s["sigmoid"]["val_loss"], s["relu"]["val_loss"], "sigmoid", "relu", "val_loss", lo)]
    if "autoencoder-optimizer" in r:
        s = r["autoencoder-optimizer"]
        yield "Adam beats SGD (autoencoder)", "3", [
            beats(s["adam"]["val_loss"], s["sgd"]["val_loss"], "adam", "sgd", "val_loss", lo)]
    if "autoencoder-n" in r:
        yield "n=16 is too small; larger n gives lower loss (autoencoder)", "4", _ordered(
            r, "autoencoder-n", "val_loss", True, lo, "n")
    if "autoencoder-dropout" in r:
        yield "Lower dropout gives lower loss (autoencoder)", "5", _ordered(
            r, "autoencoder-dropout", "val_loss", False, lo, "p")
    if "autoencoder-lr" in r:
        s = r["autoencoder-lr"]
        parts = [beats(s[1e-3]["val_loss"], s[v]["val_loss"], "lr=0.001", f"lr={v:g}", "val_loss", lo)
                 for v in sorted(s) if v != 1e-3]
        parts += [fails(s[v]["val_loss"], s[1e-3]["val_loss"], f"lr={v:g}", "val_loss") for v in s if v > 1e-2]
        yield "lr=1e-3 is best, 1e-4 is slow, lr above 1e-2 diverges (autoencoder)", "6", parts
    if "arms" in r:
        s = r["arms"]
        yield "The classifier from scratch beats the frozen pretrained one", "7, 8", [
            beats(s["scratch"]["test_acc"], s["pretrained-frozen"]["test_acc"], "scratch", "pretrained-frozen",
                  "test_acc", hi)]
    if "classifier-lr" in r:
        s = r["classifier-lr"]
        yield "lr=1e-3 beats lr=1e-4, which converges slowly (classifier)", "10", [
            beats(s[1e-3]["val_acc"], s[1e-4]["val_acc"], "lr=0.001", "lr=0.0001", "val_acc", hi)]
    if "classifier-n" in r:
        yield "Larger n gives lower loss and higher accuracy (classifier)", "11", (
            _ordered(r, "classifier-n", "val_loss", True, lo, "n")
            + _ordered(r, "classifier-n", "val_acc", True, hi, "n"))
    if "classifier-batch_size" in r:
        yield "Smaller batches give lower loss and higher accuracy (classifier)", "12", (
            _ordered(r, "classifier-batch_size", "val_loss", False, lo, "batch")
            + _ordered(r, "classifier-batch_size", "val_acc", False, hi, "batch"))


def verdict(parts: list[Part]) -> str:
    agree = sum(p.outcome == "agrees" for p in parts)
    return "confirmed" if agree == len(parts) else "not confirmed" if agree == 0 else "mixed"


def _seeds(r: dict) -> int:
    return min(len(np.atleast_1d(v)) for exp in r.values() for m in exp.values() for v in m.values())


def evaluate_claims(results: dict) -> pd.DataFrame:
    """One row per claim: the measured parts, the evidence, and the verdict under the module's rule."""
    seeds = _seeds(results) if results else 0
    rows = []
    for claim, figure, parts in _claims(results):
        tested = [p for p in parts if not np.isnan(p.p)]
        evidence = (f"{seeds} seed: direction only, noise not assessed" if seeds < 2 else
                    f"{seeds} seeds, Welch p: " + ", ".join(f"{p.p:.3g}" for p in tested))
        rows.append({
            "claim": claim, "figure": figure,
            "measured": "; ".join(f"{p.text}: {p.outcome}" for p in parts),
            "evidence": evidence, "verdict": verdict(parts),
        })
    return pd.DataFrame(rows, columns=["claim", "figure", "measured", "evidence", "verdict"])


def finals(groups: dict, metrics) -> dict:
    """{value: {metric: final values over seeds}} from experiments.Group objects."""
    return {label: {m: g.final(m) for m in metrics} for label, g in groups.items()}


def results_from_groups(groups_by_experiment: dict) -> dict:
    """The claims' input from experiments.report_groups(): validation (and test) finals per sweep, and arms."""
    out = {}
    for name, groups in groups_by_experiment.items():
        if name == "arms":
            out[name] = finals(groups, ["test_acc", "val_acc"])
        elif name.startswith("autoencoder-"):
            out[name] = finals(groups, ["val_loss", "test_loss"])
        elif name.startswith("classifier-"):
            out[name] = finals(groups, ["val_loss", "val_acc", "test_acc"])
    return out
