import pytest

from fmnist_lib.config import Config, ConfigError, make_config


def test_defaults_are_the_studys():
    cfg = Config()
    assert (cfg.n, cfg.lr, cfg.dropout, cfg.batch_size, cfg.optimizer, cfg.activation, cfg.epochs) == \
        (64, 1e-3, 0.2, 100, "adam", "sigmoid", 30)
    assert make_config("full", "classifier").epochs == 20


@pytest.mark.parametrize("field, value, allowed", [
    ("dropout", 1.5, "[0, 1)"), ("dropout", -0.1, "[0, 1)"), ("dropout", 1.0, "[0, 1)"),
    ("lr", 0.0, "> 0"), ("lr", -1e-3, "> 0"), ("n", 0, "[1, 784]"), ("n", 1000, "[1, 784]"),
    ("batch_size", 0, ">= 1"), ("epochs", 0, ">= 1"), ("optimizer", "rmsprop", "adam, sgd"),
    ("activation", "tanh", "sigmoid, relu"), ("epochs", "abc", "int"), ("n", 64.5, "int"),
    ("encoder", "pretrained", "scratch"), ("head", "softmax", "relu, linear"),
])
def test_bad_values_name_field_value_and_allowed(field, value, allowed):
    with pytest.raises(ConfigError) as err:
        Config(**{field: value})
    message = str(err.value)
    assert field in message and repr(value) in message and allowed in message
    assert "\n" not in message


def test_unknown_field_is_refused():
    with pytest.raises(ConfigError, match="unknown config field 'learning_rate'"):
        Config().replace(learning_rate=0.1)
    with pytest.raises(ConfigError, match="unknown config field 'drop'"):
        make_config("smoke", drop=0.1)


def test_unknown_profile_is_refused():
    with pytest.raises(ConfigError, match="profile='fast'.*full, quick, smoke"):
        make_config("fast")


def test_int_lr_is_accepted_as_float():
    assert Config(lr=1).lr == 1.0 and isinstance(Config(lr=1).lr, float)


def test_key_is_stable_and_ignores_fields_that_do_not_apply():
    a = Config(model="autoencoder")
    assert a.key() == Config(model="autoencoder").key()
    assert a.key() == a.replace(head="linear", encoder="random-frozen").key()  # classifier-only fields
    assert a.key() != a.replace(lr=1e-2).key()
    assert a.key() != a.replace(seed=1).key()
    c = Config(model="classifier")
    assert c.key() == c.replace(activation="relu", ae_epochs=3).key()  # scratch: no autoencoder involved
    p = c.replace(encoder="pretrained-frozen")
    assert p.key() != p.replace(ae_epochs=3).key()


def test_autoencoder_config_of_a_classifier_shares_n_dropout_seed_and_data():
    c = make_config("smoke", "classifier", n=32, dropout=0.1, seed=2, encoder="pretrained-frozen")
    ae = c.autoencoder_config()
    assert (ae.model, ae.n, ae.dropout, ae.seed, ae.train_size, ae.epochs) == \
        ("autoencoder", 32, 0.1, 2, c.train_size, c.ae_epochs)
    assert ae.key() == make_config("smoke", "autoencoder", n=32, dropout=0.1, seed=2).key()


def test_check_injected_compares_papermills_cell_with_the_parameters_cell():
    from fmnist_lib.nbrun import check_injected

    params = 'profile = "full"  # comment\nvalues = None'
    check_injected(["", "import x", params, "# Parameters\nprofile = \"smoke\"\n", "run()"])
    check_injected(["", params, "run()"])  # interactive: nothing injected
    with pytest.raises(ConfigError, match="unknown parameter 'valuez'; allowed: profile, values"):
        check_injected(["", params, "# Parameters\nvaluez = [1]\n"])


def test_sweep_configs_validate_values_and_overrides():
    from fmnist_lib.plan import sweep_configs

    groups = sweep_configs("classifier-lr", "smoke", values=[1e-3, 1e-2], seeds=2,
                           overrides={"optimizer": "sgd", "encoder": "scratch"})
    assert list(groups) == [1e-3, 1e-2] and [c.seed for c in groups[1e-3]] == [0, 1]
    assert all(c.optimizer == "sgd" and c.encoder == "scratch" and c.model == "classifier"
               for cfgs in groups.values() for c in cfgs)
    assert sweep_configs("classifier-lr", "smoke")[1e-3][0].encoder == "pretrained-frozen"
    for kwargs, message in [({"values": []}, r"values=\[\] is empty"), ({"values": "abc"}, "is not a list"),
                            ({"overrides": {"lr": 1.0}}, "may not set 'lr'"),
                            ({"overrides": {"momentum": 0.9}}, "unknown config field 'momentum'"),
                            ({"overrides": [1]}, "is not a mapping"), ({"seeds": 0}, "seeds=0 is out of range"),
                            ({"values": [1e-3, -1.0]}, "lr=-1.0 is out of range")]:
        with pytest.raises(ConfigError, match=message):
            sweep_configs("classifier-lr", "smoke", **kwargs)


def test_notebook_parameter_literals_are_the_configs_defaults():
    """The notebooks' parameters cells repeat a few of Config's defaults for users to edit: they must agree."""
    import ast
    import json

    from .conftest import ROOT

    defaults = Config()
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        params = ["".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, f"{path.name}: one cell tagged 'parameters' expected"
        for node in ast.parse(params[0]).body:
            name = node.targets[0].id
            if hasattr(defaults, name) and ast.literal_eval(node.value) is not None:  # None: the profile's
                assert ast.literal_eval(node.value) == getattr(defaults, name), f"{path.name}: {name}"
        assert "profile = None" in params[0], f"{path.name}: the default profile must answer quickly (None)"


def test_labels_tell_apart_every_run_of_a_profile():
    from fmnist_lib.plan import all_configs

    cfgs = all_configs("full")
    labels = {c.label() for c in cfgs}
    assert len(labels) == len(cfgs)  # the small-data sweep's runs read apart from the statement's sweep's
    for profile in ("quick", "smoke"):  # a profile's own training size is not spelled out on every run
        cfgs = all_configs(profile)
        assert len({c.label() for c in cfgs}) == len(cfgs)
        assert sum("train_size=" in c.label() for c in cfgs) == sum(c.train_size != cfgs[0].train_size for c in cfgs)
    # a full-profile run on quick's or smoke's training size still says so
    assert "train_size=20000" in make_config("full", train_size=20_000).label()
    assert "train_size" not in make_config("quick").label()
