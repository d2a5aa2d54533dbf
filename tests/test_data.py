import shutil

import numpy as np
import pytest
import torch

from fmnist_lib import data


def test_stratified_split_is_fixed_disjoint_and_balanced():
    labels = np.repeat(np.arange(10), 60)
    tr, va = data.stratified_split(labels, per_class=10)
    tr2, va2 = data.stratified_split(labels, per_class=10)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    assert len(set(tr) & set(va)) == 0 and len(tr) + len(va) == 600
    assert np.bincount(labels[va]).tolist() == [10] * 10


def test_read_idx_parses_header_and_refuses_other_types(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + b"".join(d.to_bytes(4, "big") for d in arr.shape) + arr.tobytes())
    assert np.array_equal(data.read_idx(path), arr)
    path.write_bytes(b"\x00\x00\x0d\x01" + (4).to_bytes(4, "big") + b"\x00" * 16)  # float IDX
    with pytest.raises(data.DataError, match="not an unsigned-byte IDX"):
        data.read_idx(path)


def test_examples_per_class_are_in_class_order():
    split = data.Split(torch.rand(40, 1, 28, 28), torch.arange(40) % 10)
    ex = data.examples_per_class(split, k=2)
    assert ex.y.tolist() == [c for c in range(10) for _ in range(2)]


# --- on the real files -------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_data_shapes_labels_and_split():
    d = data.load_fashion_mnist()
    assert d.train.x.shape == (50_000, 1, 28, 28) and d.val.x.shape == (10_000, 1, 28, 28)
    assert d.test.x.shape == (10_000, 1, 28, 28)
    assert d.train.x.dtype == torch.float32 and 0 <= d.train.x.min() and d.train.x.max() <= 1
    assert torch.bincount(d.val.y).tolist() == [1000] * 10
    assert torch.bincount(d.test.y).tolist() == [1000] * 10
    all_train = torch.cat([d.train.x, d.val.x])
    assert abs(all_train.mean().item() - 0.2860) < 1e-3 and abs(all_train.std().item() - 0.3530) < 1e-3
    assert d.md5 == {k: v[0] for k, v in data.FILES.items()}


@pytest.mark.slow
def test_parser_matches_torchvision():
    from torchvision.datasets import FashionMNIST

    tv = FashionMNIST(str(data.data_root()), train=False, download=False)
    ours = data.read_idx(data.raw_dir() / "t10k-images-idx3-ubyte")
    assert np.array_equal(tv.data.numpy(), ours)
    assert np.array_equal(tv.targets.numpy(), data.read_idx(data.raw_dir() / "t10k-labels-idx1-ubyte"))
    assert tuple(tv.classes) == data.CLASSES


@pytest.fixture
def copied_data(tmp_path):
    raw = data.raw_dir(tmp_path)
    raw.mkdir(parents=True)
    for name in data.FILES:
        shutil.copy(data.raw_dir() / name, raw / name)
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("damage, message", [
    ("missing", "missing data file"), ("truncated", "truncated"), ("altered", "altered"),
])
def test_bad_files_stop_with_the_file_name_and_the_fix(copied_data, damage, message):
    path = data.raw_dir(copied_data) / "train-labels-idx1-ubyte"
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    else:
        raw = bytearray(path.read_bytes())
        raw[-1] ^= 1
        path.write_bytes(bytes(raw))
    with pytest.raises(data.DataError) as err:
        data.load_fashion_mnist(root=copied_data)
    assert message in str(err.value) and "train-labels-idx1-ubyte" in str(err.value)
    assert "make data" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_fetch_repairs_a_damaged_file_and_is_safe_to_rerun(copied_data):
    path = data.raw_dir(copied_data) / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"junk")
    data.fetch(copied_data, log=lambda *_: None)
    assert data.check_files(copied_data)["t10k-labels-idx1-ubyte"] == data.FILES["t10k-labels-idx1-ubyte"][0]
    data.fetch(copied_data, log=lambda *_: None)
    assert not list(data.raw_dir(copied_data).glob(".*.part"))
