import torch

from fmnist_lib.config import Config
from fmnist_lib.models import Classifier, ConvAutoencoder, Dropout, build_model, count_parameters
from fmnist_lib.train import fit, make_optimizer, setup


def test_shapes():
    x = torch.rand(5, 1, 28, 28)
    ae = ConvAutoencoder(n=16)
    assert ae.encoder(x).shape == (5, 16)
    out = ae(x)
    assert out.shape == (5, 1, 28, 28) and out.min() >= 0 and out.max() <= 1  # sigmoid output
    assert Classifier(n=16)(x).shape == (5, 10)


def test_parameter_counts_are_the_assignments():
    assert count_parameters(ConvAutoencoder(64).encoder) == 56_064
    assert count_parameters(ConvAutoencoder(64)) == 116_417
    assert count_parameters(ConvAutoencoder(64).decoder) == 60_353
    assert count_parameters(Classifier(64)) == 56_714
    assert count_parameters(Classifier(64, head="linear")) == 56_714  # same Linear(n->10), no ReLU or dropout


def test_layers_and_shapes_follow_the_assignment_table():
    """ASSIGNMENT.md, layer for layer: (layer, output shape) for one image through the autoencoder."""
    ae = ConvAutoencoder(64, 0.2).eval()
    shapes, x = [], torch.rand(1, 1, 28, 28)
    for layer in [*ae.encoder.features, *ae.encoder.latent, *ae.decoder.net]:
        x = layer(x)
        shapes.append((type(layer).__name__, tuple(x.shape[1:])))
    assert shapes == [
        ("Conv2d", (16, 26, 26)), ("ReLU", (16, 26, 26)), ("Dropout", (16, 26, 26)), ("MaxPool2d", (16, 13, 13)),
        ("Conv2d", (32, 11, 11)), ("ReLU", (32, 11, 11)), ("Dropout", (32, 11, 11)), ("MaxPool2d", (32, 5, 5)),
        ("Flatten", (800,)), ("Linear", (64,)), ("ReLU", (64,)), ("Dropout", (64,)),
        ("Linear", (800,)), ("ReLU", (800,)), ("Dropout", (800,)), ("Unflatten", (32, 5, 5)),
        ("ConvTranspose2d", (16, 13, 13)), ("ReLU", (16, 13, 13)), ("Dropout", (16, 13, 13)),
        ("ConvTranspose2d", (1, 28, 28)), ("Sigmoid", (1, 28, 28)),
    ]
    convs = [m for m in ae.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert [(m.kernel_size, m.stride, m.padding, getattr(m, "output_padding", None)) for m in convs] == [
        ((3, 3), (1, 1), (0, 0), (0, 0)), ((3, 3), (1, 1), (0, 0), (0, 0)),
        ((4, 4), (2, 2), (0, 0), (1, 1)), ((3, 3), (2, 2), (0, 0), (1, 1))]
    assert type(ConvAutoencoder(activation="relu").decoder.net[-1]).__name__ == "ReLU"
    head = [type(m).__name__ for m in Classifier(64, head="relu").head]
    assert head == ["Linear", "ReLU", "Dropout"]
    assert [type(m).__name__ for m in Classifier(64, head="linear").head] == ["Linear"]


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
    # the i-th random 16-bit slot decides the i-th element in memory order: the same draws give the same mask in
    # memory for either layout, so the mask of a channels_last tensor is the NHWC-ordered mask permuted back
    x = torch.ones(2, 3, 4, 5)
    torch.manual_seed(0)
    contiguous = Dropout(0.5).train()(x)
    torch.manual_seed(0)
    last = Dropout(0.5).train()(x.contiguous(memory_format=torch.channels_last))
    assert not torch.equal(contiguous, last)  # a layout-blind mask would make these equal
    assert torch.equal(last.permute(0, 2, 3, 1).flatten(), contiguous.flatten())


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


def test_frozen_encoder_stays_frozen_and_keeps_its_dropout_on(tiny_data):
    ae_cfg = Config(model="autoencoder", epochs=1, train_size=200, eval_size=50)
    ae = fit(ae_cfg, tiny_data, progress=False)
    cfg = Config(model="classifier", epochs=2, encoder="pretrained-frozen", train_size=200, eval_size=50)
    start = setup(cfg, tiny_data, ae.encoder_state(), torch.device("cpu"))  # the model as fit starts it
    trained = [p for group in start.opt.param_groups for p in group["params"]]
    assert [id(p) for p in trained] == [id(p) for p in start.model.head.parameters()]  # the optimizer: the head only
    head_before = {k: v.clone() for k, v in start.model.head.state_dict().items()}
    result = fit(cfg, tiny_data, encoder_state=ae.encoder_state(), progress=False)
    for k, v in ae.encoder_state().items():
        assert torch.equal(result.state[f"encoder.{k}"], v), k
    for k, v in head_before.items():
        assert not torch.equal(result.state[f"head.{k}"], v), k  # the head trained from its initial weights
    assert result.meta["trainable_parameters"] == 650  # Linear(64 -> 10)
    model = build_model(cfg, ae.encoder_state()).train()
    assert model.encoder.training  # the statement's freezing: the encoder's dropout stays on


def test_eval_frozen_variant_switches_the_encoders_dropout_off(tiny_data):
    ae = fit(Config(model="autoencoder", epochs=1, train_size=200, eval_size=50), tiny_data, progress=False)
    on = Config(model="classifier", epochs=1, encoder="pretrained-frozen", train_size=200, eval_size=50)
    off = on.replace(encoder="pretrained-frozen-eval")
    model = build_model(off, ae.encoder_state()).train()
    assert model.training and not model.encoder.training
    a = fit(on, tiny_data, encoder_state=ae.encoder_state(), progress=False)
    b = fit(off, tiny_data, encoder_state=ae.encoder_state(), progress=False)
    assert a.history["train_loss"] != b.history["train_loss"]
    assert a.config.key() != b.config.key()


def test_finetuned_encoder_changes(tiny_data):
    ae = fit(Config(model="autoencoder", epochs=1, train_size=200, eval_size=50), tiny_data, progress=False)
    cfg = Config(model="classifier", epochs=1, encoder="pretrained-finetune", train_size=200, eval_size=50)
    result = fit(cfg, tiny_data, encoder_state=ae.encoder_state(), progress=False)
    assert not torch.equal(result.state["encoder.latent.1.weight"], ae.encoder_state()["latent.1.weight"])


def test_random_frozen_encoder_is_left_out_of_the_optimizer():
    model = build_model(Config(model="classifier", encoder="random-frozen")).train()
    assert model.encoder.training and not any(p.requires_grad for p in model.encoder.parameters())
    opt = make_optimizer(Config(model="classifier"), model.parameters())
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == 650


def test_classifier_history_counts_classes_never_predicted(tiny_data):
    r = fit(Config(model="classifier", epochs=1, train_size=200, eval_size=50), tiny_data, progress=False)
    pred = r.predictions.long()
    assert r.history["test_unpredicted"][-1] == 10 - len(pred.unique())
    assert len(pred) == 50 and 0 <= r.history["test_unpredicted"][-1] <= 10
