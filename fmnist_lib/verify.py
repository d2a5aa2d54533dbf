"""Verify the published store against a retraining: `python -m fmnist_lib.verify [PROFILE]` (make verify) retrains two
published runs for their first epochs and compares every metric of every epoch with the committed history: bit for
bit on the machine kind that trained them (same device, CPU model, CPU capability, torch and threads), else within
a relative EPOCH1_RTOL on the first epoch, printing which comparison it made and the largest difference."""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from . import cache
from .config import Config, ConfigError, get_profile
from .paths import store_dirs
from .plan import arm_configs, baseline_configs
from .provenance import machine
from .train import fit

# The runs `verify` retrains, and for how many epochs (a few minutes each on one core).
VERIFY_EPOCHS = {"autoencoder": 2, "classifier": 3}
# Off the machine kind that trained a run, `verify` checks each loss of the first epoch within this relative
# difference (the low bits of float sums differ between CPU kinds and grow with each step).
EPOCH1_RTOL = 1e-3


class VerifyError(RuntimeError):
    """A published run that cannot be verified (not in a store); the message names it and the fix."""


def verify_runs(profile: str) -> list[tuple[Config, int]]:
    """The runs `verify` retrains and their epochs: the baseline autoencoder and the from-scratch classifier, seed 0
    (the profile's first), for their first VERIFY_EPOCHS epochs."""
    picks = [baseline_configs(profile)[0], arm_configs(profile)["scratch"][0]]
    return [(c, min(VERIFY_EPOCHS[c.model], c.epochs)) for c in picks]


def machine_differences(published_meta: dict, here: dict) -> list[str]:
    """What differs between the machine that trained a run and this one, as 'field: there -> here'."""
    return [f"{k}: {published_meta.get(k)} -> {v}" for k, v in here.items() if published_meta.get(k) != v]


def _rel(a: float, b: float) -> float:
    if a == b:
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def compare_histories(published: dict, retrained: dict, epochs: int, exact: bool,
                      rtol: float = EPOCH1_RTOL) -> tuple[bool, list[str]]:
    """Compare the first `epochs` epochs of every metric (epoch_seconds aside). exact: every value bit for bit.
    Otherwise each loss of the first epoch within relative difference `rtol`; the largest relative difference of
    every metric over all epochs is reported. Returns (all checks pass, one line per metric)."""
    ok, lines = True, []
    for m in (m for m in published if m != "epoch_seconds"):
        p, r = list(published[m][:epochs]), list(retrained.get(m, [])[:epochs])
        if len(p) != epochs or len(r) != epochs:
            ok = False
            lines.append(f"{m}: MISMATCH: {len(r)} retrained epochs against {len(p)} published (expected {epochs})")
            continue
        rel = [_rel(float(a), float(b)) for a, b in zip(p, r)]
        worst = max(range(epochs), key=lambda i: rel[i])
        if exact:
            same = all(a == b or (a != a and b != b) for a, b in zip(p, r))  # NaN == NaN here
            ok &= same
            lines.append(f"{m}: bit for bit, {epochs} epochs" if same else
                         f"{m}: MISMATCH: first at epoch {next(i for i in range(epochs) if p[i] != r[i]) + 1}; "
                         f"largest relative difference {rel[worst]:.2e} (epoch {worst + 1}: published "
                         f"{p[worst]!r}, retrained {r[worst]!r})")
        elif m.endswith("_loss") or "_loss_" in m:
            within = rel[0] <= rtol
            ok &= within
            lines.append(f"{m}: epoch 1 relative difference {rel[0]:.2e} "
                         f"{'within' if within else 'MISMATCH: beyond'} {rtol:g}; largest over {epochs} epochs "
                         f"{rel[worst]:.2e} (epoch {worst + 1})")
        else:
            lines.append(f"{m}: largest relative difference {rel[worst]:.2e} (epoch {worst + 1}; reported, "
                         f"not checked)")
    return ok, lines


def verify_published(profile: str = "full", out=sys.stdout) -> bool:
    """Retrain the runs of verify_runs() and compare with their published histories; True if all match."""
    all_ok = True
    for cfg, k in verify_runs(profile):
        entry = cache.stored_entry(cfg)
        if entry is None:
            raise VerifyError(f"run {cfg.label()} ({cfg.key()}) of profile {profile} is not in a results store "
                             f"(looked in: {', '.join(map(str, store_dirs())) or 'no reports/*/store/'}); "
                             f"train it and run `make publish PROFILE={profile}` first")
        pub = cache.read_entry(cfg, entry, weights_optional=True)
        device = torch.device("cpu") if pub.meta.get("device") == "cpu" or not torch.cuda.is_available() \
            else torch.device("cuda")
        here = machine(device, cfg.threads)
        diffs = machine_differences(pub.meta, here)
        exact = not diffs
        how = ("bit for bit: trained on this machine kind (" + ", ".join(f"{k}={here[k]}" for k in here) + ")"
               if exact else f"within a relative tolerance of {EPOCH1_RTOL:g} on each epoch-1 loss, since the "
                             f"publishing machine differs (" + "; ".join(diffs) + ")")
        print(f"verify {cfg.label()} ({cfg.key()}), first {k} of {cfg.epochs} epochs: comparing {how}", file=out,
              flush=True)
        start = time.perf_counter()
        result = fit(cfg.replace(epochs=k), device=device, progress=True)
        ok, lines = compare_histories(pub.history, result.history, k, exact)
        for line in lines:
            print(f"  {line}", file=out)
        print(f"  {'MATCH' if ok else 'MISMATCH'} (retrained in {time.perf_counter() - start:.0f} s)", file=out,
              flush=True)
        all_ok &= ok
    print(f"verify {profile}: {'all runs match' if all_ok else 'MISMATCH'}", file=out)
    return all_ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmnist_lib.verify", description=__doc__.splitlines()[0])
    parser.add_argument("profile", nargs="?", default="full")
    args = parser.parse_args(argv)
    try:
        get_profile(args.profile)
        return 0 if verify_published(args.profile) else 1
    except (ConfigError, VerifyError, cache.CorruptEntry) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
