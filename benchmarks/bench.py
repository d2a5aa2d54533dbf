"""Training speed: the usual PyTorch loop against the project's, side by side, on this machine.

(a) usual: torchvision FashionMNIST + ToTensor + DataLoader(batch 100, shuffle), the study's model written the
    common way (Conv-ReLU-MaxPool order, nn.Dropout, default memory layout), Adam.
(b) project: fmnist_lib.train.train_epoch on in-memory tensors with index-sliced batches, the library's model
    (pool before ReLU: the same function, fewer elements; a cheaper dropout mask; channels_last).
Both at the same thread count, same batch size, same optimizer. Images/s are medians of several repetitions.
Evaluation (images/s over the 10k test set): a DataLoader of 1000 under no_grad against fmnist_lib.train.evaluate.
Achieved GFLOP/s = counted FLOPs per image (torch's FlopCounterMode, forward + backward) x images/s, beside the
machine's measured float32 matmul and convolution rates. Usage: python benchmarks/bench.py [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fmnist_lib.config import Config
from fmnist_lib.data import Split, data_root, load_fashion_mnist
from fmnist_lib.models import build_model
from fmnist_lib.train import evaluate, loss_fn, make_optimizer, train_epoch


class UsualEncoder(nn.Sequential):
    def __init__(self, n=64, p=0.2):
        super().__init__(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(p),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(p),
            nn.Flatten(), nn.Linear(32 * 7 * 7, n), nn.ReLU(), nn.Dropout(p))


def usual_model(model: str, n=64, p=0.2) -> nn.Module:
    if model == "classifier":
        return nn.Sequential(UsualEncoder(n, p), nn.Linear(n, 128), nn.ReLU(), nn.Dropout(p), nn.Linear(128, 10),
                             nn.ReLU())
    return nn.Sequential(
        UsualEncoder(n, p), nn.Linear(n, 32 * 7 * 7), nn.ReLU(), nn.Dropout(p), nn.Unflatten(1, (32, 7, 7)),
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(), nn.Dropout(p),
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())


def usual_images_per_s(model_name: str, images: int, device: torch.device) -> float:
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    ds = datasets.FashionMNIST(str(data_root()), train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(Subset(ds, range(images)), batch_size=100, shuffle=True)
    model = usual_model(model_name).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.MSELoss() if model_name == "autoencoder" else nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss = criterion(out, x if model_name == "autoencoder" else y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss.item()
    return images / (time.perf_counter() - start)


def project_images_per_s(model_name: str, images: int, device: torch.device, threads: int) -> float:
    cfg = Config(model=model_name, threads=threads)
    d = load_fashion_mnist()
    train = Split(d.train.x[:images], d.train.y[:images]).to(device)
    torch.manual_seed(0)
    model = build_model(cfg).to(device).to(memory_format=torch.channels_last)
    opt = make_optimizer(cfg, model.parameters())
    start = time.perf_counter()
    train_epoch(model, opt, loss_fn(cfg), train, cfg, torch.Generator().manual_seed(0))
    return images / (time.perf_counter() - start)


def usual_eval_images_per_s(model_name: str, device: torch.device) -> float:
    """Evaluation as commonly written: the test set through a DataLoader of 1000, eval mode, no_grad."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    ds = datasets.FashionMNIST(str(data_root()), train=False, download=False, transform=transforms.ToTensor())
    model = usual_model(model_name).to(device).eval()
    criterion = nn.MSELoss() if model_name == "autoencoder" else nn.CrossEntropyLoss()
    start = time.perf_counter()
    with torch.no_grad():
        for x, y in DataLoader(ds, batch_size=1000):
            x, y = x.to(device), y.to(device)
            criterion(model(x), x if model_name == "autoencoder" else y).item()
    return len(ds) / (time.perf_counter() - start)


def eval_images_per_s(model_name: str, device: torch.device) -> float:
    cfg = Config(model=model_name)
    model = build_model(cfg).to(device).to(memory_format=torch.channels_last)
    test = load_fashion_mnist().test.to(device)
    start = time.perf_counter()
    evaluate(model, test, cfg)
    return len(test) / (time.perf_counter() - start)


def flops_per_image(model_name: str) -> float:
    cfg = Config(model=model_name)
    model = build_model(cfg)
    x, y = torch.rand(100, 1, 28, 28), torch.randint(0, 10, (100,))
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        loss_fn(cfg)(out, x if model_name == "autoencoder" else y).backward()
    return counter.get_total_flops() / 100


def peak_gflops() -> tuple[float, float]:
    """Measured float32 rates: a 2048^3 matmul and a 64->64 channel 3x3 convolution on 56x56 maps."""
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    conv, x = nn.Conv2d(64, 64, 3, padding=1), torch.rand(32, 64, 56, 56)
    rates = []
    for fn, flops in ((lambda: a @ b, 2 * 2048 ** 3), (lambda: conv(x), 2 * 32 * 64 * 64 * 9 * 56 * 56)):
        with torch.inference_mode():
            fn()
            times = []
            for _ in range(5):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
        rates.append(flops / min(times) / 1e9)
    return rates[0], rates[1]


def _one_thread_worker(model_name: str, images: int) -> float:
    torch.set_num_threads(1)
    return project_images_per_s(model_name, images, torch.device("cpu"), 1)


def parallel_images_per_s(model_name: str, images: int, workers: int) -> float:
    """Sum of images/s of `workers` single-threaded processes training at the same time."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(_one_thread_worker, [model_name] * workers, [images // 4] * workers))  # warm-up
        return sum(pool.map(_one_thread_worker, [model_name] * workers, [images] * workers))


def median(fn, reps):
    fn()  # warm-up: allocator, kernels, first-touch of data
    return statistics.median(fn() for _ in range(reps))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--images", type=int, default=10_000, help="training images per repetition")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {name}; torch {torch.__version__}; batch 100, Adam; {args.images} images x {args.reps} reps, "
          f"medians", flush=True)
    mm, cv = peak_gflops() if device.type == "cpu" else (float("nan"), float("nan"))
    if device.type == "cpu":
        print(f"measured peak: matmul {mm:.0f} GFLOP/s, convolution {cv:.0f} GFLOP/s (float32)")
    header = f"{'model':12s} {'usual img/s':>12s} {'project img/s':>14s} {'ratio':>6s} {'usual GF/s':>11s} " \
             f"{'project GF/s':>13s} {'eval usual':>11s} {'eval project':>13s}"
    if device.type == "cpu" and args.threads > 1:
        header += f" {args.threads}x1-thread procs img/s"
    print(header)
    for model_name in ("classifier", "autoencoder"):
        fpi = flops_per_image(model_name)
        a = median(lambda: usual_images_per_s(model_name, args.images, device), args.reps)
        b = median(lambda: project_images_per_s(model_name, args.images, device, args.threads), args.reps)
        ea = median(lambda: usual_eval_images_per_s(model_name, device), args.reps)
        e = median(lambda: eval_images_per_s(model_name, device), args.reps)
        line = (f"{model_name:12s} {a:12.0f} {b:14.0f} {b / a:6.2f} {a * fpi / 1e9:11.1f} {b * fpi / 1e9:13.1f} "
                f"{ea:11.0f} {e:13.0f}")
        if device.type == "cpu" and args.threads > 1:
            torch.set_num_threads(args.threads)
            line += f" {parallel_images_per_s(model_name, args.images, args.threads):12.0f}"
            torch.set_num_threads(args.threads)
        print(line + f"   ({fpi / 1e6:.1f} MFLOP per image per step)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
