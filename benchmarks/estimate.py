"""Estimate the wall time of a profile's training runs on this machine, from short measured runs.

For each distinct shape of run in the profile (model, n, batch size, whether the encoder trains), one epoch is
timed at the profile's training size (at most 20k images) and at half of it, each with the profile's validation and
test sizes, in WORKERS parallel single-threaded processes as `make runs` trains them. The difference gives seconds
per training image, the rest is the per-epoch evaluation; the estimate sums epochs x (train + evaluation) over every
run of the report (plan.all_configs: every seed, the comparison's arm seeds, the autoencoders that pretrain
classifiers) and divides by WORKERS. A frozen encoder (pretrained-frozen, pretrained-frozen-eval, random-frozen)
gets no gradients: its probe is a random-frozen classifier, which needs no autoencoder trained first.
Usage: python benchmarks/estimate.py [PROFILE] [WORKERS]
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import torch

from fmnist_lib.config import Config, ConfigError, get_profile
from fmnist_lib.launch import default_workers, estimate_seconds
from fmnist_lib.plan import all_configs
from fmnist_lib.train import fit


def shape(c: Config) -> tuple:
    return (c.model, c.n, c.batch_size, not c.frozen)


def _same_cost(c: Config) -> str:
    """An encoder setting of the same cost that needs no pretrained autoencoder."""
    return "random-frozen" if c.frozen else "scratch"


def probe_sizes(profile: str) -> tuple[int, int]:
    """The two training sizes an epoch is timed at: the profile's own (at most 20k images) and half of it."""
    large = min(get_profile(profile).train_size, 20_000)
    return large // 2, large


def duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 0.05 * 3600 else f"{seconds / 60:.1f} min"


def epoch_seconds(cfg: Config) -> float:
    torch.set_num_threads(1)
    return fit(cfg, progress=False).history["epoch_seconds"][0]


def main() -> int:
    profile = sys.argv[1] if len(sys.argv) > 1 else "full"
    workers = sys.argv[2] if len(sys.argv) > 2 else None
    try:
        get_profile(profile)
        if workers is not None and (not workers.isdigit() or int(workers) < 1):
            raise ConfigError(f"WORKERS={workers!r} is not allowed; allowed: an integer >= 1")
        workers = int(workers) if workers else default_workers()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cfgs = all_configs(profile)
    shapes = {shape(c): c for c in cfgs}
    small, large = probe_sizes(profile)
    # same compute without an autoencoder to train first: a frozen encoder costs the same random or pretrained
    probes = [c.replace(epochs=1, train_size=size, encoder=_same_cost(c))
              for c in shapes.values() for size in (small, large)]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        seconds = list(pool.map(epoch_seconds, probes))
    per_shape = {}
    for i, key in enumerate(shapes):
        t_small, t_large = seconds[2 * i], seconds[2 * i + 1]
        per_image = max(t_large - t_small, 0.0) / (large - small)
        per_shape[key] = (per_image, max(t_small - small * per_image, 0.0))
    p = get_profile(profile)
    print(f"profile {profile}: {len(cfgs)} runs (seeds {list(p.seeds)}, the study's two arms and the "
          f"baseline {list(p.study_seeds)}, the other arms {list(p.arm_seeds)}), "
          f"{workers} parallel processes; probes of one epoch at {small} and {large} training images took "
          f"{time.perf_counter() - start:.0f} s")
    print(f"{'model':12s} {'n':>4s} {'batch':>5s} {'trains encoder':>14s} {'ms/train image':>15s} {'eval s/epoch':>13s}")
    for (model, n, batch, enc), (per_image, evaluation) in per_shape.items():
        print(f"{model:12s} {n:4d} {batch:5d} {str(enc):>14s} {1000 * per_image:15.3f} {evaluation:13.2f}")
    def measured(c: Config) -> float:  # seconds of one epoch: training images, then the evaluation
        return c.train_size * per_shape[shape(c)][0] + per_shape[shape(c)][1]

    total = estimate_seconds(cfgs, 1, measured)
    by_model = {m: estimate_seconds([c for c in cfgs if c.model == m], 1, measured)
                for m in ("autoencoder", "classifier")}
    print(f"estimated training compute: {duration(total)} of one process "
          f"(autoencoders {duration(by_model['autoencoder'])}, classifiers {duration(by_model['classifier'])}); "
          f"wall time with {workers} processes: about {duration(estimate_seconds(cfgs, workers, measured))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
