"""benchmarks/bench.py: its usual-loop model is the project's, and its FLOP counts are FlopCounterMode's."""

import importlib.util

import pytest
from torch import nn

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.mark.parametrize("model_name, flops", [("classifier", 4_045_824), ("autoencoder", 5_724_000)])
def test_flops_from_layer_shapes_match_flop_counter(model_name, flops):
    assert bench.flops_per_image(model_name) == flops
    assert bench.counted_flops_per_image(model_name, batch=10) == flops


def test_usual_model_is_the_projects():
    bench.check_usual_model()  # raises SystemExit on any difference


@pytest.mark.parametrize("layer, replacement, message", [
    (0, nn.Conv2d(1, 16, 3, padding=1), "fails in the usual loop"),  # same parameters, 28x28 maps: 1152 features
    (1, nn.Tanh(), "different function"),  # same shapes, another activation
])
def test_a_different_usual_model_is_refused(monkeypatch, layer, replacement, message):
    right = bench.usual_model

    def changed(name, n=64, p=0.2):
        model = right(name, n, p)
        model[layer] = replacement
        return model

    monkeypatch.setattr(bench, "usual_model", changed)
    with pytest.raises(SystemExit, match=message):
        bench.check_usual_model()


def test_a_wrong_parameter_count_is_refused(monkeypatch):
    monkeypatch.setitem(bench.PARAMETERS, "classifier", 114_826)  # the old padded model's count
    with pytest.raises(SystemExit, match="assignment's model has 114,826"):
        bench.check_usual_model()
