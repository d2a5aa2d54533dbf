"""Real Fashion-MNIST: find or fetch the four IDX files, verify them, load them once as tensors, split them.

Where the files are looked for, in order: $FMNIST_DATA (or the repo's data/) as
<root>/FashionMNIST/raw/<name>; Debian's package dataset-fashion-mnist (installed with apt-get when
running as root); torchvision's download. The MD5 of every decompressed file is checked on each load.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .paths import ROOT, env_path

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# MD5 of the decompressed IDX files (identical to the upstream originals) and their sizes in bytes.
FILES = {
    "train-images-idx3-ubyte": ("f4a8712d7a061bf5bd6d2ca38dc4d50a", 47_040_016),
    "train-labels-idx1-ubyte": ("9018921c3c673c538a1fc5bad174d6f9", 60_008),
    "t10k-images-idx3-ubyte": ("8181f5470baa50b63fa0f6fddb340f0a", 7_840_016),
    "t10k-labels-idx1-ubyte": ("15d484375f8d13e6eb1aabb0c3f46965", 10_008),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLIT_SEED = 20250801  # fixed: every run sees the same 50k/10k train/validation split
VAL_PER_CLASS = 1_000
FIX = "run `make data` (or delete the file and run it again)"


class DataError(RuntimeError):
    """The data files are missing or not the official ones."""


def data_root() -> Path:
    """Directory that holds FashionMNIST/raw/: $FMNIST_DATA, else the repo's data/."""
    return env_path("FMNIST_DATA", ROOT / "data")


def raw_dir(root: Path | None = None) -> Path:
    return (root or data_root()) / "FashionMNIST" / "raw"


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_files(root: Path | None = None) -> dict[str, str]:
    """Check the four files' sizes and MD5s; return {name: md5} or raise DataError naming the bad file."""
    sums = {}
    for name, (expected, size) in FILES.items():
        path = raw_dir(root) / name
        if not path.is_file():
            raise DataError(f"missing data file {path}; {FIX}")
        if path.stat().st_size != size:
            raise DataError(f"data file {path} has {path.stat().st_size} bytes, expected {size} "
                            f"(truncated or not Fashion-MNIST); {FIX}")
        sums[name] = md5(path)
        if sums[name] != expected:
            raise DataError(f"data file {path} has MD5 {sums[name]}, expected {expected} "
                            f"(altered or not Fashion-MNIST); {FIX}")
    return sums


def fetch(root: Path | None = None, log=print) -> Path:
    """Put verified IDX files under root/FashionMNIST/raw, from Debian's package or torchvision's download."""
    dest = raw_dir(root)
    dest.mkdir(parents=True, exist_ok=True)
    bad = [n for n, (h, size) in FILES.items()
           if not (dest / n).is_file() or (dest / n).stat().st_size != size or md5(dest / n) != h]
    if not bad:
        return dest
    if not DEBIAN_DIR.is_dir() and os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing Debian's dataset-fashion-mnist with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-q", "dataset-fashion-mnist"], env=env).returncode:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
            subprocess.run(["apt-get", "install", "-y", "-q", "dataset-fashion-mnist"], env=env, check=False)
    if DEBIAN_DIR.is_dir():
        for name in bad:
            src = DEBIAN_DIR / f"{name}.gz"
            if not src.is_file():
                raise DataError(f"{src} is missing from Debian's dataset-fashion-mnist; reinstall it")
            tmp = dest / f".{name}.part"
            with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            tmp.replace(dest / name)  # a half-written file never carries the final name
        log(f"decompressed {len(bad)} file(s) from {DEBIAN_DIR}")
    else:
        from torchvision.datasets import FashionMNIST
        log("downloading Fashion-MNIST with torchvision")
        for name in bad:
            (dest / name).unlink(missing_ok=True)
        FashionMNIST(str(dest.parent.parent), train=True, download=True)
        FashionMNIST(str(dest.parent.parent), train=False, download=True)
    check_files(root)
    return dest


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (big-endian header, uint8 payload) into an array."""
    data = path.read_bytes()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file; {FIX}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@dataclass(frozen=True)
class Split:
    """Images as float32 in [0, 1], shape (N, 1, 28, 28), and int64 labels (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class FashionMNIST:
    """The official data split into 50k train, 10k validation (stratified, fixed seed) and the 10k test set."""

    train: Split
    val: Split
    test: Split
    md5: dict


def stratified_split(labels: np.ndarray, per_class: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): `per_class` images of each class go to validation, chosen by `seed`."""
    rng = np.random.default_rng(seed)
    val = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)])
    val = rng.permutation(val)
    train = rng.permutation(np.setdiff1d(np.arange(len(labels)), val))
    return train, val


def _split(images: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> Split:
    x = torch.from_numpy(images[idx].astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)
    return Split(x, torch.from_numpy(labels[idx].astype(np.int64)))


def load_fashion_mnist(train_size: int | None = None, eval_size: int | None = None,
                       root: Path | None = None) -> FashionMNIST:
    """Verified data in memory; `train_size`/`eval_size` keep the first images of each split (tiny profiles). Loaded
    once per process for each (folder, sizes): `load_fashion_mnist.cache_clear()` forgets them."""
    return _load(Path(root or data_root()), train_size, eval_size)


@functools.lru_cache(maxsize=4)  # a few (folder, sizes) at most: the report's profile and the smoke one in tests
def _load(root: Path, train_size: int | None, eval_size: int | None) -> FashionMNIST:
    sums = check_files(root)
    raw = raw_dir(root)
    images, labels = read_idx(raw / "train-images-idx3-ubyte"), read_idx(raw / "train-labels-idx1-ubyte")
    train_idx, val_idx = stratified_split(labels, VAL_PER_CLASS)
    test_idx = np.arange(10_000)
    return FashionMNIST(
        train=_split(images, labels, train_idx[:train_size]),
        val=_split(images, labels, val_idx[:eval_size]),
        test=_split(read_idx(raw / "t10k-images-idx3-ubyte"), read_idx(raw / "t10k-labels-idx1-ubyte"),
                    test_idx[:eval_size]),
        md5=sums,
    )


load_fashion_mnist.cache_clear = _load.cache_clear


def examples_per_class(split: Split, k: int = 1) -> Split:
    """The first k images of each class, in class order (for reconstruction grids)."""
    idx = torch.cat([torch.nonzero(split.y == c).flatten()[:k] for c in range(len(CLASSES))])
    return Split(split.x[idx], split.y[idx])


def main(argv=None) -> int:
    """`python -m fmnist_lib.data [fetch|verify]`: obtain or check the data, one line on error."""
    parser = argparse.ArgumentParser(prog="python -m fmnist_lib.data", description="Obtain or check Fashion-MNIST.")
    parser.add_argument("command", nargs="?", default="fetch", choices=("fetch", "verify"),
                        help="fetch: find, decompress or download, then verify (default); verify: check only")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(f"Fashion-MNIST verified in {fetch()}")
        else:
            check_files()
            print(f"Fashion-MNIST verified in {raw_dir()}")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
