import torch

from fmnist_lib.config import Config
from fmnist_lib.models import Classifier, ConvAutoencoder, Dropout, build_model, count_parameters
from fmnist_lib.train import fit, make_optimizer


def test_shapes():
    x = torch.rand(5, 1, 28, 28)
    ae = ConvAutoencoder(n=16)
    assert ae.encoder(x).shape == (5, 16)
    out = ae(x)
    assert out.shape == (5, 1, 28, 28) and out.min() >= 0 and out.max() <= 1  # sigmoid output
    assert Classifier(n=16)(x).shape == (5, 10)


def test_parameter_counts_match_the_docstring():
    assert count_parameters(ConvAutoencoder(64)) == 211_905
    assert count_parameters(ConvAutoencoder(64).encoder) == 105_216
    assert count_parameters(Classifier(64)) == 114_826


def test_relu_head_clips_logits_and_linear_head_does_not():
    x = torch.rand(64, 1, 28, 28)
    torch.manual_seed(0)
    assert (Classifier(head="relu").eval()(x) >= 0).all()
    torch.manual_seed(0)
    assert (Classifier(head="linear").eval()(x) < 0).any()


def test_dropout_keep_rate_and_scaling():
    torch.manual_seed(0)
    for p in (0.1, 0.2, 0.4):
        drop = Dropout(p).train()
        x = torch.ones(400_000)
        y = drop(x)
        kept = (y != 0).float().mean().item()
        assert abs(kept - (1 - p)) < 0.003  # 6 standard deviations at n=400k
        assert torch.allclose(y[y != 0], torch.tensor(1 / (1 - p)), rtol=1e-4)
        assert abs(y.mean().item() - 1) < 0.005  # unbiased
    assert torch.equal(Dropout(0.2).eval()(x), x)


def test_dropout_bits_are_uniform_in_every_slot():
    # each int64 word gives four 16-bit slots; a biased slot (e.g. the sign bit of random_()'s default range)
    # would show as a different keep rate in that slot
    torch.manual_seed(1)
    y = Dropout(0.5).train()(torch.ones(4 * 100_000)).view(-1, 4)
    rates = (y != 0).float().mean(0)
    assert ((rates - 0.5).abs() < 0.01).all(), rates


def test_dropout_mask_follows_channels_last_layout():
    torch.manual_seed(0)
    x = torch.rand(8, 16, 14, 14).contiguous(memory_format=torch.channels_last)
    y = Dropout(0.3).train()(x)
    assert y.shape == x.shape
    assert torch.equal((y != 0), (y / x != 0))


def test_one_batch_overfits():
    torch.manual_seed(0)
    cfg = Config(model="classifier", dropout=0.0, head="linear")
    model = build_model(cfg)
    x, y = torch.rand(20, 1, 28, 28), torch.randint(0, 10, (20,))
    opt = make_optimizer(cfg, model.parameters())
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert (model(x).argmax(1) == y).all()


def test_frozen_encoder_stays_frozen(tiny_data):
    ae_cfg = Config(model="autoencoder", epochs=1, train_size=200, eval_size=50)
    ae = fit(ae_cfg, tiny_data, progress=False)
    cfg = Config(model="classifier", epochs=2, encoder="pretrained-frozen", train_size=200, eval_size=50)
    result = fit(cfg, tiny_data, encoder_state=ae.encoder_state(), progress=False)
    for k, v in ae.encoder_state().items():
        assert torch.equal(result.state[f"encoder.{k}"], v), k
    head_before = build_model(cfg, ae.encoder_state()).head[0].weight
    assert not torch.equal(result.state["head.0.weight"], head_before)
    assert result.meta["trainable_parameters"] < result.meta["parameters"]


def test_finetuned_encoder_changes(tiny_data):
    ae = fit(Config(model="autoencoder", epochs=1, train_size=200, eval_size=50), tiny_data, progress=False)
    cfg = Config(model="classifier", epochs=1, encoder="pretrained-finetune", train_size=200, eval_size=50)
    result = fit(cfg, tiny_data, encoder_state=ae.encoder_state(), progress=False)
    assert not torch.equal(result.state["encoder.latent.1.weight"], ae.encoder_state()["latent.1.weight"])


def test_frozen_encoder_runs_in_eval_mode_during_training():
    model = build_model(Config(model="classifier", encoder="random-frozen"))
    model.train()
    assert model.training and not model.encoder.training
