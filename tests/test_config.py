import json

import pytest

from zoo import api
from zoo.config import TrainConfig, from_dict, parse_set
from zoo.errors import ZooError


def test_precedence_defaults_recipe_file_set_flags(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 3\nlearning_rate: 0.5\nbatch_size: 16\nmodel:\n  dropout: 0.1\n")
    c = api.resolve_train_config(
        "cnn",
        "mnist",
        str(f),
        ["learning_rate=0.25", "model.dense_units=8"],
        {"batch_size": 32, "seed": None},
    )
    assert c.epochs == 3  # file beats recipe (10)
    assert c.learning_rate == 0.25  # --set beats file
    assert c.batch_size == 32  # flag beats file
    assert c.schedule == "cosine"  # recipe beats dataclass default
    assert c.optimizer == "adam" and TrainConfig().schedule == "constant"
    assert c.model_config == {"dropout": 0.1, "dense_units": 8}


def test_json_config_file(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"epochs": 2, "augment": "crop"}))
    assert api.resolve_train_config("cnn", "mnist", str(f)).augment == "crop"


def test_unknown_keys_and_types_are_errors(tmp_path):
    with pytest.raises(ZooError, match="did you mean learning_rate"):
        from_dict(TrainConfig, {"learning_rat": 1.0})
    with pytest.raises(ZooError, match="must be an integer"):
        from_dict(TrainConfig, {"epochs": "many"})
    with pytest.raises(ZooError, match="did you mean adam"):
        from_dict(TrainConfig, {"optimizer": "adma"})
    with pytest.raises(ZooError, match="did you mean dense_units"):
        api.resolve_train_config("cnn", "mnist", sets=["model.dense_unit=3"])
    with pytest.raises(ZooError, match="key=value"):
        parse_set(["learning_rate"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ZooError, match="mapping"):
        api.resolve_train_config("cnn", "mnist", str(bad))


def test_smoke_means_one_epoch_unless_asked():
    assert api.resolve_train_config("cnn", "mnist", flags={"smoke": True}).epochs == 1
    assert api.resolve_train_config("cnn", "mnist", flags={"smoke": True, "epochs": 2}).epochs == 2


def test_value_checks():
    for bad in ({"batch_size": 0}, {"val_fraction": 1.5}, {"learning_rate": -1.0}):
        with pytest.raises(ZooError):
            from_dict(TrainConfig, bad)


def test_dataset_recipe_values_sit_between_the_recipe_and_the_user(monkeypatch):
    import dataclasses

    from zoo.models import registry

    spec = registry.get_spec("cnn")
    values = {"cifar10": {"augment": "flip", "epochs": 3}}
    monkeypatch.setitem(
        registry._REGISTRY, "cnn", dataclasses.replace(spec, dataset_recipes=values)
    )
    config = api.resolve_train_config("cnn", "cifar10")
    assert (config.augment, config.epochs, config.optimizer) == ("flip", 3, "adam")
    assert api.resolve_train_config("cnn", "mnist").augment == "none"
    user = api.resolve_train_config("cnn", "cifar10", flags={"augment": "none"})
    assert user.augment == "none" and user.epochs == 3
