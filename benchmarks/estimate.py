"""Estimate the wall time of a profile's training runs on this machine, from short measured runs.

For each distinct shape of run in the profile (model, n, batch size, whether the encoder trains), one epoch is
timed at 10k and at 20k training images (each with the profile's validation and test sizes), in WORKERS parallel
single-threaded processes as `make runs` trains them. The difference gives seconds per training image, the rest is
the per-epoch evaluation; the estimate sums epochs x (train + evaluation) over every run and divides by WORKERS.
Usage: python benchmarks/estimate.py [PROFILE] [WORKERS]
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from fmnist_lib.config import Config
from fmnist_lib.experiments import all_configs


def shape(c: Config) -> tuple:
    trains_encoder = c.model == "autoencoder" or not c.encoder.endswith("frozen")
    return (c.model, c.n, c.batch_size, trains_encoder)


def _same_cost(encoder: str) -> str:
    return "random-frozen" if encoder.endswith("frozen") else "scratch"


def epoch_seconds(cfg: Config) -> float:
    import torch

    from fmnist_lib.train import fit

    torch.set_num_threads(1)
    return fit(cfg, progress=False).history["epoch_seconds"][0]


def main() -> int:
    profile = sys.argv[1] if len(sys.argv) > 1 else "full"
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count()
    cfgs = all_configs(profile)
    shapes = {shape(c): c for c in cfgs}
    # same compute without an autoencoder to train first: a frozen encoder costs the same random or pretrained
    probes = [c.replace(epochs=1, train_size=size, encoder=_same_cost(c.encoder))
              for c in shapes.values() for size in (10_000, 20_000)]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        seconds = list(pool.map(epoch_seconds, probes))
    per_shape = {}
    for i, key in enumerate(shapes):
        t10, t20 = seconds[2 * i], seconds[2 * i + 1]
        per_image = max(t20 - t10, 0.0) / 10_000
        per_shape[key] = (per_image, max(t10 - 10_000 * per_image, 0.0))
    print(f"profile {profile}: {len(cfgs)} runs, {workers} parallel processes, probes took "
          f"{time.perf_counter() - start:.0f} s")
    print(f"{'model':12s} {'n':>4s} {'batch':>5s} {'trains encoder':>14s} {'ms/train image':>15s} {'eval s/epoch':>13s}")
    for (model, n, batch, enc), (per_image, evaluation) in per_shape.items():
        print(f"{model:12s} {n:4d} {batch:5d} {str(enc):>14s} {1000 * per_image:15.3f} {evaluation:13.2f}")
    total = sum(c.epochs * (c.train_size * per_shape[shape(c)][0] + per_shape[shape(c)][1]) for c in cfgs)
    by_model = {m: sum(c.epochs * (c.train_size * per_shape[shape(c)][0] + per_shape[shape(c)][1])
                       for c in cfgs if c.model == m) for m in ("autoencoder", "classifier")}
    print(f"estimated training compute: {total / 3600:.2f} h of one process "
          f"(autoencoders {by_model['autoencoder'] / 3600:.2f} h, classifiers {by_model['classifier'] / 3600:.2f} h); "
          f"wall time with {workers} processes: about {total / workers / 3600:.2f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
