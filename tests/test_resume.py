"""Epoch checkpoints: they change no number of a run, and a run stopped part-way resumes bit for bit (CPU)."""

import functools
import signal
import subprocess
import sys
import time

import pytest
import torch

from fmnist_lib import cache
from fmnist_lib.config import Config, make_config
from fmnist_lib.train import fit

from .conftest import ROOT

CPU = torch.device("cpu")


def tiny(**kw):
    return Config(**{"epochs": 3, "train_size": 200, "eval_size": 50, **kw})


def assert_same_run(a, b):
    """Every number of two runs, bit for bit; epoch_seconds (wall time) aside."""
    strip = lambda r: {k: v for k, v in r.history.items() if k != "epoch_seconds"}  # noqa: E731
    assert strip(a) == strip(b)
    assert a.status == b.status and a.config.key() == b.config.key()
    assert a.state.keys() == b.state.keys() and all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert (a.predictions is None) == (b.predictions is None)
    if a.predictions is not None:
        assert torch.equal(a.predictions, b.predictions)


class Killed(Exception):
    """Stands in for a SIGKILL right after an epoch's checkpoint was written."""


def kill_after(epoch):
    def hook(done):
        if done == epoch:
            raise Killed
    return hook


ARMS = {
    "autoencoder": dict(model="autoencoder", dropout=0.4),
    "classifier": dict(model="classifier"),
    "classifier-frozen": dict(model="classifier", encoder="pretrained-frozen", ae_epochs=1),
}


def encoder_for(cfg, data):
    return fit(cfg.autoencoder_config(), data, device=CPU, progress=False).encoder_state() if cfg.pretrained else None


@pytest.mark.parametrize("arm", ARMS)
def test_checkpointing_changes_no_number(tmp_path, tiny_data, arm):
    cfg = tiny(**ARMS[arm])
    encoder = encoder_for(cfg, tiny_data)
    plain = fit(cfg, tiny_data, encoder, device=CPU, progress=False)
    epochs = []
    checked = fit(cfg, tiny_data, encoder, device=CPU, progress=False, checkpoint=tmp_path / "run.ckpt",
                  on_epoch=epochs.append)
    assert_same_run(plain, checked)
    assert epochs == [1, 2, 3]
    saved = torch.load(tmp_path / "run.ckpt", weights_only=True)
    assert saved["epoch"] == 3 and saved["key"] == cfg.key()
    assert not list(tmp_path.glob("*.part"))  # written beside, renamed over


@pytest.mark.parametrize("arm", ARMS)
@pytest.mark.parametrize("stop", [1, 2, 3])
def test_a_run_stopped_after_an_epoch_resumes_bit_for_bit(tmp_path, tiny_data, arm, stop):
    cfg = tiny(**ARMS[arm])
    encoder = encoder_for(cfg, tiny_data)
    plain = fit(cfg, tiny_data, encoder, device=CPU, progress=False)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Killed):
        fit(cfg, tiny_data, encoder, device=CPU, progress=False, checkpoint=ckpt, on_epoch=kill_after(stop))
    epochs = []
    resumed = fit(cfg, tiny_data, encoder, device=CPU, progress=False, checkpoint=ckpt, on_epoch=epochs.append)
    assert_same_run(plain, resumed)
    assert epochs == list(range(stop, 4))  # told where it resumed, then each epoch it trained
    assert resumed.meta["resumed_at_epoch"] == stop and "resumed_at_epoch" not in plain.meta


def test_a_checkpoint_from_another_copy_of_the_autoencoder_is_not_resumed(tmp_path, tiny_data, capsys):
    cfg = tiny(**ARMS["classifier-frozen"])
    encoder = encoder_for(cfg, tiny_data)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Killed):
        fit(cfg, tiny_data, encoder, device=CPU, progress=False, checkpoint=ckpt, on_epoch=kill_after(1),
            encoder_sha256="a" * 64)
    result = fit(cfg, tiny_data, encoder, device=CPU, progress=False, checkpoint=ckpt, encoder_sha256="b" * 64)
    assert "another copy of the autoencoder" in capsys.readouterr().err and "resumed_at_epoch" not in result.meta
    assert result.meta["encoder_sha256"] == "b" * 64
    with pytest.raises(Killed):
        fit(cfg, tiny_data, encoder, device=CPU, progress=False, checkpoint=ckpt, on_epoch=kill_after(1),
            encoder_sha256="a" * 64)
    assert fit(cfg, tiny_data, encoder, device=CPU, progress=False, checkpoint=ckpt,
               encoder_sha256="a" * 64).meta["resumed_at_epoch"] == 1


def test_a_checkpoint_written_by_another_commit_is_not_resumed(tmp_path, tiny_data, capsys, monkeypatch):
    from fmnist_lib import train as train_module

    cfg = tiny(model="classifier")
    ckpt = tmp_path / "run.ckpt"
    monkeypatch.setattr(train_module, "git_commit", lambda: "abc1234 (with uncommitted changes)")
    with pytest.raises(Killed):
        fit(cfg, tiny_data, device=CPU, progress=False, checkpoint=ckpt, on_epoch=kill_after(1))
    monkeypatch.setattr(train_module, "git_commit", lambda: "def5678")  # a pinned worktree, say
    result = fit(cfg, tiny_data, device=CPU, progress=False, checkpoint=ckpt)
    assert "commit abc1234 (with uncommitted changes) wrote it, this run trains from def5678" in capsys.readouterr().err
    assert "resumed_at_epoch" not in result.meta and result.meta["commit"] == "def5678"


@pytest.mark.parametrize("damage", ["garbage", "another_run", "truncated"])
def test_an_unusable_checkpoint_is_reported_and_the_run_starts_over(tmp_path, tiny_data, capsys, damage):
    cfg = tiny(model="classifier")
    ckpt = tmp_path / "run.ckpt"
    if damage == "garbage":
        ckpt.write_bytes(b"not a checkpoint")
    else:
        other = cfg.replace(seed=1) if damage == "another_run" else cfg
        with pytest.raises(Killed):
            fit(other, tiny_data, device=CPU, progress=False, checkpoint=ckpt, on_epoch=kill_after(1))
        if damage == "truncated":
            ckpt.write_bytes(ckpt.read_bytes()[:1000])
    result = fit(cfg, tiny_data, device=CPU, progress=False, checkpoint=ckpt)
    assert "warning: ignoring checkpoint" in capsys.readouterr().err
    assert "resumed_at_epoch" not in result.meta
    assert_same_run(fit(cfg, tiny_data, device=CPU, progress=False), result)


def test_get_run_resumes_from_its_checkpoint_and_removes_it_once_saved(tmp_path, tiny_data, monkeypatch):
    monkeypatch.setattr(cache, "fit", functools.partial(fit, data=tiny_data, device=CPU))
    cfg = tiny(model="classifier", encoder="pretrained-finetune", ae_epochs=2)
    seen = []
    with pytest.raises(Killed):
        cache.get_run(cfg, root=tmp_path, progress=False,
                      on_epoch=lambda c, done: (seen.append((c.model, done)), kill_after(2)(done) if c is cfg else 0))
    assert seen == [("autoencoder", 1), ("autoencoder", 2), ("classifier", 1), ("classifier", 2)]
    assert cache.is_cached(cfg.autoencoder_config(), tmp_path) and not cache.is_cached(cfg, tmp_path)
    assert cache.checkpoint_path(cfg, tmp_path).is_file()
    assert not cache.checkpoint_path(cfg.autoencoder_config(), tmp_path).exists()  # removed with its entry saved
    result = cache.get_run(cfg, root=tmp_path, progress=False)
    assert not cache.checkpoint_path(cfg, tmp_path).exists()
    assert result.meta["resumed_at_epoch"] == 2 and cache.load(cfg, tmp_path).meta["resumed_at_epoch"] == 2
    encoder = cache.load(cfg.autoencoder_config(), tmp_path).encoder_state()
    assert_same_run(fit(cfg, tiny_data, encoder, device=CPU, progress=False), cache.load(cfg, tmp_path))


WORKER = """
import sys
from fmnist_lib import cache
from fmnist_lib.config import make_config
cfg = make_config("smoke", sys.argv[2], epochs=3, train_size=4000)
cache.get_run(cfg, root=sys.argv[1], progress=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize("model", ["autoencoder", "classifier"])
def test_a_run_killed_mid_epoch_resumes_bit_for_bit(tmp_path, model):
    """SIGKILL while the second epoch trains (once the first epoch's checkpoint exists); started again, the run
    goes on from epoch 1 and ends with the history and weights of a run never interrupted."""
    cfg = make_config("smoke", model, epochs=3, train_size=4000)
    ckpt = cache.checkpoint_path(cfg, tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), model], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not ckpt.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1, "the kill came too late to test a resume"
    assert not cache.is_cached(cfg, tmp_path)
    resumed = cache.get_run(cfg, root=tmp_path, progress=False)
    assert resumed.meta["resumed_at_epoch"] == 1 and not ckpt.exists()
    assert_same_run(fit(cfg, progress=False), cache.load(cfg, tmp_path))
