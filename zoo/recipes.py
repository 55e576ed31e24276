"""The training config of a run, resolved from its layers, lowest first: dataclass defaults < the
family's recipe (or its pretraining recipe) < the recipe's values for the dataset < --smoke <
--config FILE < --set key=value < explicit flags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zoo import config as cfg_lib
from zoo import registry
from zoo.config import TrainConfig
from zoo.errors import ZooError


def resolve(
    model: str,
    dataset: str | None,
    config_file: str | None = None,
    sets: Sequence[str] = (),
    flags: dict[str, Any] | None = None,
    pretraining: bool = False,
) -> TrainConfig:
    """defaults < family recipe (its pretraining recipe with ``pretraining``) < the recipe's
    values for this dataset < --smoke < config file < --set < explicit flags."""
    spec = registry.get_spec(model)
    file_values = cfg_lib.load_file(config_file) if config_file else {}
    set_values = cfg_lib.parse_set(sets)
    flag_values = {k: v for k, v in (flags or {}).items() if v is not None}
    user = cfg_lib.merge(file_values, set_values, flag_values)
    smoke = {"epochs": 1} if user.get("smoke") else {}
    recipe = spec.pretrain_recipe if pretraining else spec.recipe
    per_dataset = (
        {} if pretraining else spec.dataset_recipes.get(dataset or user.get("dataset"), {})
    )
    merged = cfg_lib.merge(recipe, per_dataset, smoke, user, {"model": spec.name})
    if dataset:
        merged["dataset"] = dataset
    if not merged.get("dataset"):
        raise ZooError("no dataset given: pass --dataset NAME (e.g. --dataset cifar10)")
    config = cfg_lib.from_dict(TrainConfig, merged, where="train config")
    registry.model_config(config.model, config.model_config)  # architecture keys checked now
    return config
