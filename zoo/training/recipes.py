"""The training config of a run, resolved from its layers, lowest first: dataclass defaults < the
family's recipe (or its pretraining recipe) < the recipe's values for the dataset < --smoke <
--config FILE < --set key=value < explicit flags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zoo import config as cfg_lib
from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.models import registry


def resolve(
    model: str,
    dataset: str | None,
    config_file: str | None = None,
    sets: Sequence[str] = (),
    flags: dict[str, Any] | None = None,
    pretraining: bool = False,
    notes: list[str] | None = None,
) -> TrainConfig:
    """defaults < family recipe (its pretraining recipe with ``pretraining``) < the recipe's
    values for this dataset < --smoke < config file < --set < explicit flags. Where a value the
    user did not set exceeds a preset's limit, the limit wins and a line joins ``notes``."""
    spec = registry.get_spec(model)
    file_values = cfg_lib.load_file(config_file) if config_file else {}
    set_values = cfg_lib.parse_set(sets)
    flag_values = {k: v for k, v in (flags or {}).items() if v is not None}
    user = cfg_lib.merge(file_values, set_values, flag_values)
    preset = preset_values(model, user)
    if preset:
        spec = registry.get_spec(preset["model"])
    smoke = {"epochs": 1} if user.get("smoke") else {}
    recipe = spec.pretrain_recipe if pretraining else spec.recipe
    per_dataset = (
        {} if pretraining else spec.dataset_recipes.get(dataset or user.get("dataset"), {})
    )
    merged = cfg_lib.merge(recipe, per_dataset, preset, smoke, user, {"model": spec.name})
    if preset:
        _within_preset(merged, preset, user, notes)
    if dataset:
        merged["dataset"] = dataset
    if not merged.get("dataset"):
        raise ZooError("no dataset given: pass --dataset NAME (e.g. --dataset cifar10)")
    config = cfg_lib.from_dict(TrainConfig, merged, where="train config")
    registry.model_config(config.model, config.model_config)  # architecture keys checked now
    return config


def _within_preset(merged: dict, preset: dict, user: dict, notes: list[str] | None) -> None:
    """A recipe's text length beyond the preset's position table gives way to the table (the
    user never asked for it); a length the user set stays, and the model refuses it."""
    positions = preset["model_config"].get("max_positions")
    length = merged.get("sequence_length", TrainConfig.sequence_length)
    if positions is None or "sequence_length" in user or length <= positions:
        return
    merged["sequence_length"] = positions
    if notes is not None:
        notes.append(
            f"note: sequence_length {positions}, the preset's max_positions (the recipe's "
            f"{length} is longer; --sequence-length sets it)"
        )


def preset_values(model: str, user: dict[str, Any]) -> dict[str, Any]:
    """``--init-from`` a KerasHub preset: the variant and architecture keys that compute the
    preset's function (a bare family name, ``bert``, picks the variant), its vocabulary's
    ``[SEP]`` id and, for ViT, its image size as the default ``image_size``. {} otherwise."""

    from zoo.runs import rundir

    source = user.get("init_from")
    if not source:
        return {}
    from zoo.training import presets

    if not presets.is_preset(source, rundir.default_runs_dir()):
        return {}
    preset = presets.resolve(source)
    spec = registry.get_spec(model)
    settings = presets.model_settings(preset, spec)
    variant = (
        presets.matching_variant(preset, spec.family, registry) if model == spec.family else model
    )
    fields = registry.config_fields(registry.get_spec(variant))
    differ = [
        k
        for k, v in settings.items()
        if k != "activation" and fields.get(k) not in (v, "auto")  # auto: set from the preset
    ]
    if model != spec.family and differ:
        raise ZooError(
            f"--init-from {source}: {model} has {differ[0]}={fields[differ[0]]} but the preset "
            f"({preset.describe()}) has {settings[differ[0]]}; name the family instead (zoo train "
            f"{spec.family} --init-from {source}) and the preset's architecture is built"
        )
    mine = user.get("model_config") or {}
    clash = sorted(k for k in settings if k in mine and mine[k] != settings[k])
    if clash:
        raise ZooError(
            f"--init-from {source}: model.{clash[0]}={mine[clash[0]]} differs from the preset's "
            f"{settings[clash[0]]}; drop it (the preset fixes the architecture)"
        )
    out: dict[str, Any] = {"model": variant, "model_config": dict(settings)}
    if preset.family == "bert":
        from zoo.data import preprocess

        tok = presets.hub_tokenizer(source)
        out["model_config"]["sep_id"] = preprocess.special_ids(tok.get_vocabulary())[3]
        out["max_tokens"] = int(tok.vocabulary_size())
    else:
        out["image_size"] = int(preset.backbone["image_shape"][0])
    return out
