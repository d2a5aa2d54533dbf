import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty run cache and reports folder, and loads the data afresh."""
    from fmnist_lib.data import load_fashion_mnist

    monkeypatch.setenv("FMNIST_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FMNIST_REPORTS", str(tmp_path / "reports"))
    torch.set_num_threads(1)
    load_fashion_mnist.cache_clear()


@pytest.fixture
def tiny_data():
    """A synthetic stand-in with the real shapes, for unit tests only (never for results)."""
    from fmnist_lib.data import FashionMNIST, Split

    g = torch.Generator().manual_seed(0)

    def split(n):
        return Split(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))

    return FashionMNIST(split(200), split(50), split(50), md5={})


def tiny(model: str = "autoencoder", epochs: int = 1, **overrides):
    """A run config sized for the synthetic `tiny_data`: the smoke profile's run with 200 training and 50
    evaluation images (the one tiny config every unit test builds on)."""
    from fmnist_lib.config import make_config

    return make_config("smoke", model, epochs=epochs, train_size=200, eval_size=50, **overrides)


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds `marker`: the ones a test started (to check none is left behind)."""
    pids = []
    for proc in os.listdir("/proc"):
        try:
            if proc.isdigit() and marker.encode() in open(f"/proc/{proc}/environ", "rb").read():
                pids.append(int(proc))
        except OSError:
            pass
    return pids
