"""The committed results store: staleness of reports/full/store against today's code, and the store's mechanics on a
temporary store with tiny synthetic runs."""

import csv
import io
import json
import os
import shutil
import subprocess

import pytest
import torch

from fmnist_lib import cache, launch, plan, results, store
from fmnist_lib import train as train_module
from fmnist_lib.config import CACHE_VERSION, FIELDS, make_config
from fmnist_lib.models import count_parameters
from fmnist_lib.provenance import unreproducible
from fmnist_lib.train import WeightsNotPublished, fit

from .conftest import ROOT

# ------------------------------------------------------------------------------------ the committed store of `full`
FULL = ROOT / "reports" / "full"
committed = pytest.mark.skipif(not (FULL / "store").is_dir(),
                               reason="reports/full/store does not exist yet: nothing of the full profile published "
                                      "(`make publish` after training)")


@pytest.fixture(scope="module")
def full_plan():
    return {c.key(): c for c in plan.all_configs("full")}


def committed_entries():
    return sorted(p for p in (FULL / "store").iterdir() if p.is_dir()) if (FULL / "store").is_dir() else []


@committed
def test_committed_entries_match_what_the_code_trains(full_plan):
    entries = committed_entries()
    assert entries, "reports/full/store is empty"
    for entry in entries:
        meta = json.loads((entry / "meta.json").read_text())
        assert meta["cache_version"] == CACHE_VERSION, \
            f"{entry.name}: cache version {meta['cache_version']}, the code's is {CACHE_VERSION}: re-train and publish"
        assert entry.name in full_plan, f"{entry.name} is not a run of all_configs('full') any more: `make publish`"
        cfg = full_plan[entry.name]
        assert json.loads((entry / "config.json").read_text()) == cfg.relevant(), entry.name
        assert meta["parameters"] == count_parameters(store.architecture(cfg)), \
            f"{entry.name} ({cfg.label()}): {meta['parameters']} parameters published, the code builds " \
            f"{count_parameters(store.architecture(cfg))}"
        cache.read_entry(cfg, entry, weights_optional=True)  # version, config, history, weights' SHA-256


@committed
def test_committed_figure_weights_and_table(full_plan):
    for key in store.figure_weights("full"):
        if (FULL / "store" / key).is_dir():
            assert (FULL / "store" / key / "weights.pt").is_file(), f"{key}: a figure needs its weights"
    rows = list(csv.DictReader((FULL / "runs.csv").open()))
    assert [r["key"] for r in rows] == list(full_plan), "runs.csv does not list today's plan: `make publish`"
    published = {e.name for e in committed_entries()}
    assert {r["key"] for r in rows if r["status"] != "missing"} == published


@committed
def test_committed_models_match_the_code():
    published = json.loads((FULL / "models.json").read_text())
    assert published == store.models_manifest("full"), "models.json differs from today's models: `make publish`"


# ---------------------------------------------------------------------------------- the mechanics, on a tiny store
def tiny_plan():
    """A three-run plan at the smoke profile's settings: the baseline autoencoder (a figure needs its weights), a
    classifier from scratch and a pretrained classifier whose autoencoder (n=16) no figure needs."""
    ae = plan.baseline_configs("smoke")[0]
    return [ae, make_config("smoke", "classifier", seed=0),
            make_config("smoke", "classifier", encoder="pretrained-frozen", n=16, seed=0),
            make_config("smoke", "autoencoder", n=16, seed=0)]


@pytest.fixture
def tiny(tmp_path, monkeypatch, tiny_data):
    """A temporary run cache and store, the tiny plan, and a train(cfg) that fits on synthetic data into the cache."""
    runs, pub = tmp_path / "runs", tmp_path / "pub" / "store"
    monkeypatch.setenv("FMNIST_STORE", str(pub))
    plan = tiny_plan()
    monkeypatch.setattr(store, "all_configs", lambda profile: plan)
    commits = ["abc1234"]  # what git reports while the runs train; a test may dirty it
    monkeypatch.setattr(train_module, "git_commit", lambda: commits[-1])
    calls = []

    def fake_fit(cfg, data=None, encoder_state=None, progress=True, **kw):
        calls.append(cfg.key())
        return fit(cfg, tiny_data, encoder_state, progress=False, **kw)

    monkeypatch.setattr(cache, "fit", fake_fit)

    def train(cfg):
        return cache.get_run(cfg, root=runs, progress=False)

    return type("Tiny", (), {"runs": runs, "store": pub, "plan": plan, "train": staticmethod(train),
                             "calls": calls, "commits": commits, "publish": staticmethod(
                                 lambda **kw: store.publish("smoke", root=runs, out=io.StringIO(), **kw))})


def test_publish_then_load_without_run_cache(tiny, monkeypatch, tiny_data):
    trained = {c.key(): tiny.train(c) for c in tiny.plan}
    counts = tiny.publish()
    assert counts["published"] == 4 and counts["missing"] == 0
    shutil.rmtree(tiny.runs)
    ae, clf, pre, ae16 = tiny.plan
    for c in tiny.plan:
        back = cache.load(c, tiny.runs)
        assert back.history == trained[c.key()].history and back.status == trained[c.key()].status
    assert all(torch.equal(v, trained[ae.key()].state[k]) for k, v in cache.load(ae, tiny.runs).state.items())
    stored = cache.load(clf, tiny.runs)
    assert stored.state is None and torch.equal(stored.predictions, trained[clf.key()].predictions)
    with pytest.raises(WeightsNotPublished, match=f"{clf.label()}.*not published"):
        stored.model()
    # the confusion matrix comes from the stored predictions, not from weights
    monkeypatch.setattr(results, "load_fashion_mnist", lambda *a: tiny_data)
    y_true, y_pred = results.predictions(results.Group("scratch", [stored]))
    assert (y_true == tiny_data.test.y.numpy()).all() and (y_pred == stored.predictions.numpy()).all()


def test_weights_kept_only_where_needed(tiny):
    ae, clf, pre, ae16 = tiny.plan
    assert pre.autoencoder_config().key() == ae16.key()
    for c in (ae, clf, ae16):
        tiny.train(c)

    def with_weights():
        return {p.name for p in tiny.store.iterdir() if (p / "weights.pt").exists()}

    tiny.publish(pending_encoders=False)
    assert with_weights() == {ae.key()}  # only the figure's
    assert (tiny.store / clf.key() / cache.PREDICTIONS).is_file()
    tiny.publish()  # the pretrained classifier is not published yet: its autoencoder's weights come back
    assert with_weights() == {ae.key(), ae16.key()}
    tiny.train(pre)
    tiny.publish()  # now nothing needs the n=16 autoencoder's weights
    assert with_weights() == {ae.key()}
    assert sorted(p.name for p in (tiny.store / clf.key()).iterdir()) == sorted(store.ENTRY_FILES)
    assert not (tiny.store / ".tmp").exists()


def test_published_runs_are_not_retrained(tiny):
    for c in tiny.plan:
        tiny.train(c)
    tiny.publish()
    shutil.rmtree(tiny.runs)
    n = len(tiny.calls)
    results = launch.ensure_runs(tiny.plan, workers=1, root=tiny.runs)
    assert len(tiny.calls) == n and len(results) == 4
    assert all(cache.is_cached(c, tiny.runs) for c in tiny.plan)


@pytest.mark.parametrize("commit", ["abc1234 (with uncommitted changes)", "unknown"])
def test_publish_refuses_a_run_no_commit_reproduces(tiny, commit, capsys):
    tiny.train(tiny.plan[1])  # a classifier from scratch, from a clean commit
    tiny.commits.append(commit)
    tiny.train(tiny.plan[0])  # the autoencoder, from a dirty tree (or no checkout)
    counts = tiny.publish()
    assert counts["published"] == 1 and counts["refused"] == 1
    assert (tiny.store / tiny.plan[1].key()).is_dir() and not (tiny.store / tiny.plan[0].key()).exists()
    assert f"refused: {tiny.plan[0].label()}" in capsys.readouterr().err
    rows = {r["key"]: r for r in csv.DictReader((tiny.store.parent / "runs.csv").open())}
    assert rows[tiny.plan[1].key()]["reproducible_from_commit"] == "True"
    assert rows[tiny.plan[0].key()]["status"] == "missing"


def test_a_run_records_its_commit_at_start_and_at_end(tiny):
    tiny.commits.append("def5678")
    r = tiny.train(tiny.plan[1])
    assert r.meta["commit"] == r.meta["commit_at_end"] == "def5678"
    assert unreproducible(r.meta) is None
    assert "moved" in unreproducible({**r.meta, "commit_at_end": "0123abc"})


@pytest.mark.parametrize("damage", ["history", "weights", "config", "version"])
def test_corrupt_published_entry_is_refused(tiny, damage):
    for c in tiny.plan:
        tiny.train(c)
    tiny.publish()
    shutil.rmtree(tiny.runs)
    ae = tiny.plan[0]
    entry = tiny.store / ae.key()
    if damage == "history":
        (entry / "history.json").write_text("{")
    elif damage == "weights":
        (entry / "weights.pt").write_bytes((entry / "weights.pt").read_bytes()[:100])
    elif damage == "config":
        (entry / "config.json").write_text(json.dumps({**ae.relevant(), "lr": 0.5}))
    else:
        meta = json.loads((entry / "meta.json").read_text())
        (entry / "meta.json").write_text(json.dumps({**meta, "cache_version": CACHE_VERSION - 1}))
    with pytest.raises(cache.CorruptEntry, match=f"published entry {entry}"):
        cache.load(ae, tiny.runs)
    with pytest.raises(cache.CorruptEntry):
        cache.get_run(ae, train=False, root=tiny.runs)
    with pytest.raises(store.StoreError, match=f"{ae.key()}.*corrupt|corrupt.*{ae.key()}"):
        tiny.publish()  # no run-cache copy to replace it: refused, store left as it was
    assert entry.is_dir()


def test_runs_csv_lists_every_planned_run(tiny):
    ae, clf, pre, ae16 = tiny.plan
    tiny.train(ae)
    tiny.train(clf)
    (tiny.store / "ae-0000000000000000").mkdir(parents=True)  # an entry no longer planned
    counts = tiny.publish()
    assert counts["published"] == 2 and counts["missing"] == 2 and counts["removed"] == 1
    assert not (tiny.store / "ae-0000000000000000").exists()
    rows = list(csv.DictReader((tiny.store.parent / "runs.csv").open()))
    assert [r["key"] for r in rows] == [c.key() for c in tiny.plan]
    assert [r["status"] for r in rows] == ["ok", "ok", "missing", "missing"]
    assert set(FIELDS) <= set(rows[0]) and rows[1]["final_test_acc"] and rows[0]["device"] == "cpu"
    assert rows[0]["weights_published"] == "True" and rows[1]["weights_published"] == "False"
    models = json.loads((tiny.store.parent / "models.json").read_text())
    assert models == store.models_manifest("smoke")


def test_publish_refuses_an_unknown_profile(capsys):
    assert store.main(["publish", "Full"]) == 2
    assert capsys.readouterr().err.strip() == "error: profile='Full' is not allowed; allowed: full, quick, smoke"


# ------------------------------------------------------------------------------------------------------ make clean
def test_make_clean_keeps_tracked_files_the_store_and_other_profiles(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "Makefile", repo / "Makefile")
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    files = ["reports/full/report.html", "reports/full/report.ipynb", "reports/full/custom/autoencoder.html",
             "reports/full/store/ae-1/meta.json", "reports/full/runs.csv", "reports/full/figures/a.png",
             "reports/full/figures/b.png", "reports/smoke/report.html"]
    for f in files:
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        (repo / f).write_text("x")
    git("add", "reports/full/report.html", "reports/full/figures/a.png")
    out = subprocess.run(["make", "-s", "clean", "PROFILE=full"], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    left = sorted(str(p.relative_to(repo)) for p in (repo / "reports").rglob("*") if p.is_file())
    assert left == ["reports/full/figures/a.png", "reports/full/report.html", "reports/full/runs.csv",
                    "reports/full/store/ae-1/meta.json", "reports/smoke/report.html"]
    assert "removed 3 untracked file(s) from reports/full" in out.stdout
    assert not (repo / "reports/full/custom").exists()


def test_make_clean_outside_the_work_tree(tmp_path):
    repo, elsewhere = tmp_path / "repo", tmp_path / "built"
    repo.mkdir()
    shutil.copy(ROOT / "Makefile", repo / "Makefile")
    for f in ("smoke/report.ipynb", "smoke/store/k/meta.json", "quick/report.html"):
        (elsewhere / f).parent.mkdir(parents=True, exist_ok=True)
        (elsewhere / f).write_text("x")
    make = ["make", "-s", "clean", "PROFILE=smoke", f"REPORTS={elsewhere}"]
    out = subprocess.run(make, cwd=repo, capture_output=True, text=True)  # not a git work tree: refused
    assert out.returncode == 2 and out.stderr.startswith("error: make clean removes only files git does not track")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    out = subprocess.run(make, cwd=repo, capture_output=True, text=True)  # outside the work tree: nothing tracked
    assert out.returncode == 0, out.stderr
    assert sorted(str(p.relative_to(elsewhere)) for p in elsewhere.rglob("*") if p.is_file()) == \
        ["quick/report.html", "smoke/store/k/meta.json"]


def _rewrite(entry, **fields):
    meta = json.loads((entry / "meta.json").read_text())
    (entry / "meta.json").write_text(json.dumps({**meta, **fields}))


DIRTY = "abc1234 (with uncommitted changes)"  # as the 23 runs published from dirty trees


def test_a_published_run_no_commit_reproduces_is_trained_again_and_replaced(tiny, capsys, monkeypatch):
    ae, clf, pre, ae16 = tiny.plan
    for c in tiny.plan:
        tiny.train(c)
    tiny.publish()
    assert json.loads((tiny.store / pre.key() / "meta.json").read_text())["encoder_sha256"] == \
        json.loads((tiny.store / ae16.key() / "meta.json").read_text())["weights_sha256"]
    # published from a dirty tree on another CPU kind: a retrain here gives other weights (the store keeps none)
    _rewrite(tiny.store / clf.key(), commit=DIRTY)
    _rewrite(tiny.store / ae16.key(), commit=DIRTY, weights_sha256="0" * 64)
    _rewrite(tiny.store / pre.key(), encoder_sha256="0" * 64)
    shutil.rmtree(tiny.runs)  # a fresh clone: the store only
    assert [cache.needs_training(c, tiny.runs) for c in tiny.plan] == [False, True, True, True]
    assert "its autoencoder must be trained again" in cache.stale(cache.load(pre, tiny.runs), tiny.runs)
    again = [c for c in tiny.plan if cache.needs_training(c, tiny.runs)]
    assert launch.plan_missing(tiny.plan, tiny.runs) == []  # plain `make runs` leaves them: held
    order = launch.plan_missing(tiny.plan, tiny.runs, launch.retrain_first(again, lambda c: 0), retrain_stale=True)
    assert [c.key() for c in order] == [ae16.key(), clf.key(), pre.key()]  # the autoencoder first
    tiny.train(ae16)
    assert sorted(tiny.calls) == sorted(c.key() for c in tiny.plan)  # nothing trained again without --retrain-stale
    monkeypatch.setattr(launch, "git_commit", lambda: DIRTY)
    with pytest.raises(launch.LaunchError, match="uncommitted changes"):
        launch.set_retrain_stale()  # its retrains would be stale again: refused
    monkeypatch.setattr(launch, "git_commit", lambda: "abc1234")
    monkeypatch.delenv("FMNIST_RETRAIN_STALE", raising=False)
    launch.set_retrain_stale()  # from a clean commit: for this process and the workers it starts
    assert os.environ["FMNIST_RETRAIN_STALE"] == "1"

    tiny.train(ae16)  # its new copy, from a clean commit; the classifier built on the old one is not retrained yet
    assert cache.stale(cache.load(pre, tiny.runs), tiny.runs) == "it was trained from another copy of its autoencoder"
    capsys.readouterr()
    tiny.publish()
    assert "waits: " + ae16.label() in capsys.readouterr().err
    assert unreproducible(json.loads((tiny.store / ae16.key() / "meta.json").read_text()))  # not replaced alone

    n = len(tiny.calls)
    tiny.train(pre)  # retrained (it is held, but stale), from the new copy
    tiny.train(clf)
    assert tiny.calls[n:] == [pre.key(), clf.key()]
    tiny.publish()
    metas = {c.key(): json.loads((tiny.store / c.key() / "meta.json").read_text()) for c in tiny.plan}
    assert not any(unreproducible(m) for m in metas.values())
    assert metas[pre.key()]["encoder_sha256"] == metas[ae16.key()]["weights_sha256"]
    assert not any(cache.needs_training(c, tiny.runs) for c in tiny.plan)
    rows = {r["key"]: r for r in csv.DictReader((tiny.store.parent / "runs.csv").open())}
    assert {r["reproducible_from_commit"] for r in rows.values()} == {"True"}


def test_runs_csv_marks_a_classifier_whose_autoencoder_no_commit_reproduces(tiny):
    ae, clf, pre, ae16 = tiny.plan
    for c in tiny.plan:
        tiny.train(c)
    tiny.publish()
    _rewrite(tiny.store / ae16.key(), commit=DIRTY)
    shutil.rmtree(tiny.runs)  # no copy to replace it with
    tiny.publish()
    rows = {r["key"]: r for r in csv.DictReader((tiny.store.parent / "runs.csv").open())}
    assert rows[pre.key()]["reproducible_from_commit"] == "False" and rows[clf.key()]["reproducible_from_commit"] \
        == "True"


def test_a_legacy_classifier_stays_only_with_an_autoencoder_retrained_bit_for_bit():
    from types import SimpleNamespace as Run

    from fmnist_lib.provenance import choose

    ae, kid = make_config("smoke", "autoencoder", n=16, seed=0), \
        make_config("smoke", "classifier", encoder="pretrained-frozen", n=16, seed=0)
    old = Run(meta={"commit": DIRTY, "weights_sha256": "1"})
    legacy = Run(meta={"commit": "b", "commit_at_end": "b"})  # from before runs recorded encoder_sha256
    for weights, replaced in (("1", True), ("2", False)):
        new = Run(meta={"commit": "c", "commit_at_end": "c", "weights_sha256": weights, "encoder_sha256": None})
        taken, notes = choose({ae.key(): (ae, new, old), kid.key(): (kid, None, legacy)})
        assert (ae.key() in taken) is replaced and kid.key() not in taken
        assert notes[0].startswith("replaced: " if replaced else "waits: ")
