import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from fmnist_lib import cache
from fmnist_lib.config import Config
from fmnist_lib.train import fit

from .conftest import ROOT, tiny as conftest_tiny


def tiny(**kw):
    return conftest_tiny(**{"epochs": 1, **kw})


@pytest.fixture
def patched_fit(monkeypatch, tiny_data):
    """fit() on synthetic data, counting calls."""
    calls = []

    def fake_fit(cfg, data=None, encoder_state=None, progress=True, **kw):
        calls.append(cfg)
        return fit(cfg, tiny_data, encoder_state, progress=False, **kw)

    monkeypatch.setattr(cache, "fit", fake_fit)
    return calls


def test_round_trip(tmp_path, tiny_data):
    result = fit(tiny(model="classifier"), tiny_data, progress=False)
    path = cache.save(result, tmp_path)
    assert sorted(p.name for p in path.iterdir()) == sorted(cache.FILES + (cache.PREDICTIONS,))
    back = cache.load(result.config, tmp_path)
    assert back.history == result.history and back.status == result.status
    assert torch.equal(back.predictions, result.predictions)
    assert all(torch.equal(back.state[k], result.state[k]) for k in result.state)
    assert not list((tmp_path / ".tmp").iterdir())  # the temporary folder was renamed away


def test_atomic_dir_replaces_an_entry_whole_or_not_at_all(tmp_path):
    final = tmp_path / "entry"
    with cache.atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("first")
    assert [p.name for p in final.iterdir()] == ["a.txt"]

    with pytest.raises(RuntimeError, match="killed"):
        with cache.atomic_dir(final) as tmp:
            (tmp / "a.txt").write_text("second, half-written")
            raise RuntimeError("killed mid-write")
    assert (final / "a.txt").read_text() == "first"  # the old entry stands

    with cache.atomic_dir(final) as tmp:
        (tmp / "b.txt").write_text("second")
    assert [p.name for p in final.iterdir()] == ["b.txt"]  # replaced whole, nothing of the old one kept
    assert not list((tmp_path / ".tmp").iterdir())  # no temporary or old folder left behind


def test_cached_run_is_not_retrained_and_autoencoder_is_shared(tmp_path, patched_fit):
    frozen = tiny(model="classifier", encoder="pretrained-frozen", ae_epochs=1)
    cache.get_run(frozen, root=tmp_path)
    assert [c.model for c in patched_fit] == ["autoencoder", "classifier"]
    cache.get_run(frozen, root=tmp_path)
    cache.get_run(frozen.replace(encoder="pretrained-finetune"), root=tmp_path)
    assert [c.model for c in patched_fit] == ["autoencoder", "classifier", "classifier"]


def test_missing_run_without_training_raises(tmp_path):
    with pytest.raises(cache.MissingRun):
        cache.get_run(tiny(), train=False, root=tmp_path)


@pytest.mark.parametrize("damage, says", [("truncate_weights", "SHA-256"), ("bad_history", "JSONDecodeError"),
                                          ("old_version", "cache version 0"), ("missing_meta", "meta.json")])
def test_corrupt_entry_is_detected_and_retrained(tmp_path, patched_fit, capsys, damage, says):
    cfg = tiny()
    cache.get_run(cfg, root=tmp_path)
    entry = cache.entry_dir(cfg, tmp_path)
    if damage == "truncate_weights":
        data = (entry / "weights.pt").read_bytes()
        (entry / "weights.pt").write_bytes(data[: len(data) // 2])
    elif damage == "bad_history":
        (entry / "history.json").write_text("{not json")
    elif damage == "old_version":
        meta = json.loads((entry / "meta.json").read_text())
        (entry / "meta.json").write_text(json.dumps({**meta, "cache_version": 0}))
    else:
        (entry / "meta.json").unlink()
    with pytest.raises(cache.CorruptEntry, match=says):
        cache.load(cfg, tmp_path)
    result = cache.get_run(cfg, root=tmp_path)
    assert len(patched_fit) == 2 and result.status == "ok"
    assert "warning: cached run" in capsys.readouterr().err
    cache.load(cfg, tmp_path)  # healthy again


def test_interrupted_save_leaves_nothing_that_reads_as_complete(tmp_path, tiny_data, monkeypatch):
    result = fit(tiny(), tiny_data, progress=False)

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache.os, "rename", boom)
    with pytest.raises(KeyboardInterrupt):
        cache.save(result, tmp_path)
    assert not cache.entry_dir(result.config, tmp_path).exists()
    assert not list((tmp_path / ".tmp").iterdir())
    with pytest.raises(cache.MissingRun):
        cache.load(result.config, tmp_path)


WORKER = """
import signal, sys, time
# a shell's background job starts with SIGINT ignored, and Python then never raises KeyboardInterrupt: restore it
signal.signal(signal.SIGINT, signal.default_int_handler)
from fmnist_lib import cache
from fmnist_lib.config import Config
cfg = Config(model="autoencoder", epochs={epochs}, train_size=1000, eval_size=200)
real_fit = cache.fit
def announcing_fit(*args, **kwargs):
    print("training", flush=True)  # the test waits for this line: past start-up, inside training
    return real_fit(*args, **kwargs)
cache.fit = announcing_fit
t = time.time()
cache.get_run(cfg, root=sys.argv[1], progress=False)
print("done", time.time() - t, flush=True)
"""


def _worker(tmp_path, epochs):
    return subprocess.Popen([sys.executable, "-c", WORKER.format(epochs=epochs), str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_killed_training_leaves_no_entry_and_is_retrained(tmp_path, sig):
    proc = _worker(tmp_path, epochs=200)
    assert proc.stdout.readline() == "training\n"  # blocks until the worker has started training
    time.sleep(0.5)
    assert proc.poll() is None
    proc.send_signal(sig)
    proc.wait(timeout=60)
    cfg = Config(model="autoencoder", epochs=200, train_size=1000, eval_size=200)
    assert not cache.entry_dir(cfg, tmp_path).exists()
    with pytest.raises(cache.MissingRun):
        cache.load(cfg, tmp_path)
    # the lock died with the process: a new run of a short config is not blocked
    short = _worker(tmp_path, epochs=1)
    out, err = short.communicate(timeout=120)
    assert short.returncode == 0 and "done" in out, err


@pytest.mark.slow
def test_two_processes_asking_for_the_same_run_train_it_once(tmp_path):
    a, b = _worker(tmp_path, epochs=2), _worker(tmp_path, epochs=2)
    (_, err_a), (_, err_b) = a.communicate(timeout=300), b.communicate(timeout=300)
    assert a.returncode == 0 and b.returncode == 0, err_a + err_b
    assert "is being trained by another process" in err_a + err_b
    entries = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1
    cache.load(Config(model="autoencoder", epochs=2, train_size=1000, eval_size=200), tmp_path)
    assert not os.listdir(tmp_path / ".tmp")
