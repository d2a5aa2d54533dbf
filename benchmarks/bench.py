"""Training speed: the usual PyTorch loop against the project's, side by side, on this machine.

Both loops train the assignment's model (fmnist_lib/models.py: no padding, Conv-ReLU-Dropout-MaxPool, 800 features).
(a) usual: torchvision FashionMNIST + ToTensor + DataLoader(batch 100, shuffle), the model written the common way
    (an nn.Sequential of nn.Conv2d / nn.ReLU / nn.Dropout / nn.MaxPool2d, default memory layout), Adam.
(b) project: fmnist_lib.train.train_epoch on in-memory tensors with index-sliced batches, the library's model
    (a cheaper dropout mask, channels_last) and its fused Adam.
Both at the same thread count, same batch size, same optimizer. Images/s are medians of several repetitions.
Evaluation (images/s over the 10k test set): a DataLoader of 1000 under no_grad against fmnist_lib.train.evaluate.
Achieved GFLOP/s = FLOPs per image per training step (convolutions and linear layers, forward + backward, counted
from the layer shapes and checked against torch's FlopCounterMode at start) x images/s, beside the machine's measured
float32 matmul and convolution rates. On a CUDA GPU both loops run there. Usage: python benchmarks/bench.py [--reps 3]
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
from fmnist_lib.models import build_model, count_parameters
from fmnist_lib.train import evaluate, loss_fn, make_optimizer, train_epoch


# Parameter counts of the assignment's model at n=64 (fmnist_lib/models.py's docstring, tests/test_models.py).
PARAMETERS = {"encoder": 56_064, "autoencoder": 116_417, "classifier": 56_714}


def usual_encoder(n=64, p=0.2) -> list[nn.Module]:
    return [nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Dropout(p), nn.MaxPool2d(2),  # 28 -> 26 -> 13
            nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Dropout(p), nn.MaxPool2d(2),  # 13 -> 11 -> 5
            nn.Flatten(), nn.Linear(32 * 5 * 5, n), nn.ReLU(), nn.Dropout(p)]


def usual_model(model: str, n=64, p=0.2) -> nn.Module:
    """The assignment's model as it is commonly written: one nn.Sequential of stock layers."""
    if model == "encoder":
        return nn.Sequential(*usual_encoder(n, p))
    if model == "classifier":
        return nn.Sequential(*usual_encoder(n, p), nn.Linear(n, 10), nn.ReLU(), nn.Dropout(p))
    return nn.Sequential(
        *usual_encoder(n, p), nn.Linear(n, 32 * 5 * 5), nn.ReLU(), nn.Dropout(p), nn.Unflatten(1, (32, 5, 5)),
        nn.ConvTranspose2d(32, 16, 4, stride=2, output_padding=1), nn.ReLU(), nn.Dropout(p),  # 5 -> 13
        nn.ConvTranspose2d(16, 1, 3, stride=2, output_padding=1), nn.Sigmoid())  # 13 -> 28


def check_usual_model() -> None:
    """The usual loop's model must be the project's: same parameter counts (the assignment's), same parameter shapes
    in the same order, and with the project's weights copied in, the same outputs in eval mode."""
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for name, expected in PARAMETERS.items():
        project = build_model(Config(model="autoencoder")).encoder if name == "encoder" else \
            build_model(Config(model=name))
        usual = usual_model(name)
        counts = count_parameters(usual), count_parameters(project)
        if counts != (expected, expected):
            raise SystemExit(f"bench: {name} has {counts[0]:,} parameters in the usual loop and {counts[1]:,} in the "
                             f"project's; the assignment's model has {expected:,}")
        shapes = [tuple(t.shape) for t in usual.parameters()], [tuple(t.shape) for t in project.parameters()]
        if shapes[0] != shapes[1]:
            raise SystemExit(f"bench: {name}'s parameter shapes differ: usual {shapes[0]}, project {shapes[1]}")
        with torch.no_grad():
            for a, b in zip(usual.parameters(), project.parameters()):
                a.copy_(b)
            try:
                same = torch.allclose(usual.eval()(x), project.eval()(x), atol=1e-6)
            except RuntimeError as err:  # e.g. a layer's output no longer fits the next layer
                raise SystemExit(f"bench: {name} fails in the usual loop: {str(err).splitlines()[0]}") from None
            if not same:
                raise SystemExit(f"bench: {name} computes a different function in the usual loop than in the project")


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer starts (or stops) after it; nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def usual_images_per_s(model_name: str, images: int, device: torch.device) -> float:
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    ds = datasets.FashionMNIST(str(data_root()), train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(Subset(ds, range(images)), batch_size=100, shuffle=True)
    model = usual_model(model_name).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.MSELoss() if model_name == "autoencoder" else nn.CrossEntropyLoss()
    model.train()
    sync(device)
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
    sync(device)
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
    sync(device)
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
    sync(device)
    start = time.perf_counter()
    evaluate(model, test, cfg)
    return len(test) / (time.perf_counter() - start)


def flops_per_image(model_name: str, n: int = 64) -> int:
    """FLOPs (2 per multiply-add) of one training step per image, from the assignment's layer shapes: the
    convolutions, transposed convolutions and linear layers, forward and backward. The backward pass costs two
    forwards (the input's gradient and the weights') except in the first convolution, whose input, the image, needs
    no gradient. ReLU, dropout, pooling, the loss and Adam are elementwise and not counted (nor by FlopCounterMode).
    """
    conv1 = 2 * 1 * 16 * 3 * 3 * 26 * 26  # Conv2d(1->16, 3): 26x26 outputs
    conv2 = 2 * 16 * 32 * 3 * 3 * 11 * 11  # Conv2d(16->32, 3): 11x11 outputs
    forward = conv1 + conv2 + 2 * 800 * n  # + Linear(800->n)
    if model_name == "classifier":
        forward += 2 * n * 10  # Linear(n->10)
    else:
        # a transposed convolution does Cin x Cout x k x k multiply-adds per *input* position
        forward += 2 * n * 800 + 2 * 32 * 16 * 4 * 4 * 5 * 5 + 2 * 16 * 1 * 3 * 3 * 13 * 13  # 5 -> 13 -> 28
    return 3 * forward - conv1


def counted_flops_per_image(model_name: str, batch: int = 100) -> float:
    """torch's FlopCounterMode on one training step of the project's model (forward, loss, backward), per image."""
    cfg = Config(model=model_name)
    model = build_model(cfg).train()
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        loss_fn(cfg)(out, x if model_name == "autoencoder" else y).backward()
    return counter.get_total_flops() / batch


def check_flops() -> None:
    for model_name in ("classifier", "autoencoder"):
        ours, counted = flops_per_image(model_name), counted_flops_per_image(model_name)
        if ours != counted:
            raise SystemExit(f"bench: {model_name} step counted at {counted:,.0f} FLOPs per image by FlopCounterMode, "
                             f"{ours:,} from the layer shapes; make flops_per_image follow fmnist_lib/models.py")


def peak_gflops(device: torch.device) -> tuple[float, float]:
    """Measured float32 rates: a 2048^3 matmul and a 64->64 channel 3x3 convolution on 56x56 maps."""
    a, b = torch.rand(2048, 2048, device=device), torch.rand(2048, 2048, device=device)
    conv, x = nn.Conv2d(64, 64, 3, padding=1).to(device), torch.rand(32, 64, 56, 56, device=device)
    rates = []
    for fn, flops in ((lambda: a @ b, 2 * 2048 ** 3), (lambda: conv(x), 2 * 32 * 64 * 64 * 9 * 56 * 56)):
        with torch.inference_mode():
            fn()
            times = []
            for _ in range(5):
                sync(device)
                t = time.perf_counter()
                fn()
                sync(device)
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
    if args.reps < 1:
        parser.error(f"--reps {args.reps}: give a whole number of repetitions >= 1")
    if not 100 <= args.images <= 50_000:
        parser.error(f"--images {args.images}: give a number from 100 (one batch) to 50000 (the training split)")
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: give a whole number of threads >= 1")
    torch.set_num_threads(args.threads)
    check_usual_model()  # both loops train the assignment's model, parameter for parameter
    check_flops()  # the FLOP counts behind the GF/s columns are FlopCounterMode's
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {name}; torch {torch.__version__}; batch 100, Adam; {args.images} images x {args.reps} reps, "
          f"medians", flush=True)
    mm, cv = peak_gflops(device)
    tf32 = " (cuDNN convolutions in TF32, torch's default)" if device.type == "cuda" else ""
    print(f"measured peak: matmul {mm:.0f} GFLOP/s, convolution {cv:.0f} GFLOP/s (float32{tf32})")
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
