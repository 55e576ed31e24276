"""The model registry: ``@register_model`` variants, listing and creation by name.

A *variant* is a small registered function returning its architecture config (timm style);
the family's builder turns ``(DatasetInfo, config)`` into an uncompiled ``keras.Model``.

    >>> from zoo import registry
    >>> [s.name for s in registry.list_models("resnet*")]
    ['resnet20', 'resnet32', 'resnet56']
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zoo import config as cfg
from zoo.errors import ZooError, did_you_mean, with_article

MODALITIES = ("image", "text", "audio")

_REGISTRY: dict[str, ModelSpec] = {}
_FAMILY_DEFAULTS: dict[str, str] = {}


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model variant."""

    name: str  # e.g. "resnet20"
    family: str  # e.g. "resnet"
    modality: str  # "image" or "text"
    description: str  # one line, from the variant's docstring
    config: Any  # the variant's default architecture config (a frozen dataclass)
    builder: Callable  # (DatasetInfo, config) -> keras.Model
    recipe: dict = field(default_factory=dict)  # TrainConfig defaults that suit this family
    default: bool = False  # the variant a bare family name resolves to
    pretrain: str | None = None  # the pretraining task it supports, e.g. "mlm"
    tokenizer: str = "words"  # text: "words" (TextVectorization) or "wordpiece" (BERT)
    pretrain_recipe: dict = field(default_factory=dict)  # TrainConfig defaults for pretraining
    accepts: tuple[str, ...] = ()  # further modalities it reads (e.g. audio as spectrograms)
    dataset_recipes: dict = field(default_factory=dict)  # dataset -> recipe values for it
    space: dict = field(default_factory=dict)  # `zoo tune`'s default search space: NAME -> SPEC
    # (model, training inputs as the model takes them) -> None: layers fitted to data before
    # training (airbench's whitening); the engine calls it on a fixed sample of the train split
    init_from_data: Callable | None = None
    # (architecture config) -> sgd_l2's parameter groups: regex over variable paths ->
    # (gradient multiplier, epoch from which the variable is frozen or None); see
    # training.optimizers.GroupSGD
    param_groups: Callable | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        """Every modality the variant reads: its own first."""
        return (self.modality, *self.accepts)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks (``zoo.tasks``) this variant trains for: classification, and its
        pretraining task if it has one."""
        return ("classify", *([self.pretrain] if self.pretrain else []))


def register_model(
    *,
    family: str,
    modality: str,
    builder: Callable,
    recipe: dict | None = None,
    default: bool = False,
    pretrain: str | None = None,
    tokenizer: str = "words",
    pretrain_recipe: dict | None = None,
    accepts: tuple[str, ...] = (),
    dataset_recipes: dict | None = None,
    space: dict | None = None,
    init_from_data: Callable | None = None,
    param_groups: Callable | None = None,
) -> Callable:
    """Decorator registering a variant function that returns its architecture config."""
    if not {modality, *accepts} <= set(MODALITIES):
        raise ValueError(f"modality must be one of {MODALITIES}")

    def wrap(fn: Callable) -> Callable:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelSpec(
            name=name,
            family=family,
            modality=modality,
            description=doc[0] if doc else "",
            config=fn(),
            builder=builder,
            recipe=dict(recipe or {}),
            default=default,
            pretrain=pretrain,
            tokenizer=tokenizer,
            pretrain_recipe=dict(pretrain_recipe or {}),
            accepts=tuple(accepts),
            dataset_recipes=dict(dataset_recipes or {}),
            space=dict(space or {}),
            init_from_data=init_from_data,
            param_groups=param_groups,
        )
        if default or family not in _FAMILY_DEFAULTS:
            _FAMILY_DEFAULTS[family] = name
        return fn

    return wrap


# One line per family: each module registers its variants (and its custom layers) on import.
FAMILIES = (
    "airbench",
    "audio",
    "bert",
    "cnn",
    "ds_cnn",
    "mlp",
    "resnet",
    "rnn",
    "transformer",
    "vit",
)


def load_families() -> None:
    """Import every family module, which registers its variants and custom Keras layers."""
    for family in FAMILIES:
        importlib.import_module(f"zoo.models.{family}")


def list_models(pattern: str | None = None, modality: str | None = None) -> list[ModelSpec]:
    """Registered variants, filtered by a shell-style pattern and/or modality, sorted by name."""
    load_families()
    if modality is not None and modality not in MODALITIES:
        raise ZooError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
    specs = sorted(_REGISTRY.values(), key=lambda s: (s.family, s.name))
    if pattern:
        specs = [
            s
            for s in specs
            if fnmatch.fnmatch(s.name, pattern) or fnmatch.fnmatch(s.family, pattern)
        ]
    if modality:
        specs = [s for s in specs if modality in s.modalities]
    return specs


def get_spec(name: str) -> ModelSpec:
    """The spec of a variant, or of a family's default variant; unknown names raise ZooError."""
    load_families()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _FAMILY_DEFAULTS:
        return _REGISTRY[_FAMILY_DEFAULTS[name]]
    names = list(_REGISTRY) + list(_FAMILY_DEFAULTS)
    raise ZooError(f"unknown model {name!r}{did_you_mean(name, names)}; `zoo models` lists them")


def model_config(name: str, overrides: dict | None = None) -> Any:
    """The variant's architecture config with ``overrides`` applied strictly."""
    spec = get_spec(name)
    return cfg.replace(spec.config, overrides or {}, where=f"model ({spec.name})", prefix="model.")


def architecture(name: str, overrides: dict | None = None) -> dict[str, Any]:
    """The whole architecture config of a new run as a dict: what run.json records at its start,
    so that the run resumes and reproduces as it began after the variant's defaults change."""
    return cfg.to_dict(model_config(name, overrides))


def run_architecture(name: str, overrides: dict | None, record: dict[str, Any]) -> dict[str, Any]:
    """The architecture a run began with, from its run.json ``record``: the one recorded there;
    for a run of a zoo that did not record it yet, its overrides on the defaults of that time
    (fields added since at the value they replaced, the config class's ``BEFORE``); for a
    directory without a record (a worker's), today's."""
    if "architecture" in record:
        return dict(record["architecture"])
    before = getattr(get_spec(name).config, "BEFORE", {}) if record.get("started") else {}
    return architecture(name, {**before, **(overrides or {})})


def check_dataset(spec: ModelSpec, info: Any) -> None:
    """ZooError unless ``spec`` can read ``info``'s inputs: the same modality, and sentence
    pairs only for BERT-style (WordPiece) models, which pack them as one sequence."""
    if info.modality not in spec.modalities:
        raise ZooError(
            f"model {spec.name} takes {' or '.join(spec.modalities)} input but dataset "
            f"{info.name} is {info.modality} data; pick {with_article(info.modality)} model "
            "(`zoo models "
            f"--modality {info.modality}`)"
        )
    if info.pair_key and spec.tokenizer != "wordpiece":
        bert = ", ".join(s.name for s in list_models("bert"))
        raise ZooError(
            f"{info.name} is a sentence-pair dataset, and {spec.name} reads one text; pick a "
            f"BERT-style model, which packs pairs as [CLS] a [SEP] b [SEP] ({bert})"
        )


def create_model(name: str, info: Any, overrides: dict | None = None):
    """Build an uncompiled ``keras.Model`` of ``name`` for the dataset described by ``info``."""
    spec = get_spec(name)
    check_dataset(spec, info)
    return spec.builder(info, model_config(name, overrides))


def config_fields(spec: ModelSpec) -> dict[str, Any]:
    return {f.name: getattr(spec.config, f.name) for f in dataclasses.fields(spec.config)}
