"""Typed, frozen configs and the strict machinery that fills them.

Precedence, lowest first: dataclass defaults < the model family's recipe < ``--config FILE`` <
``--set key=value`` < explicit command-line flags. Unknown keys and wrong types are errors with
a did-you-mean, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError, did_you_mean

OPTIMIZERS = ("sgd", "sgd_l2", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear")
AUGMENTATIONS = ("none", "flip", "crop", "flip_crop", "altflip_translate", "shift")  # shift: audio
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
XLA_MODES = ("auto", "on", "off")
KEEP = ("best", "last")
STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", "none")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on besides the architecture (see ``ModelConfig``s)."""

    model: str = ""  # registered model or family name, e.g. "cnn", "resnet20"
    dataset: str = ""  # TFDS name, e.g. "cifar10", "imdb_reviews", "glue/sst2"
    data_dir: str | None = None  # TFDS data dir; None: $TFDS_DATA_DIR or ~/tensorflow_datasets
    epochs: int = 10
    batch_size: int = 64  # global batch (all replicas together)
    optimizer: str = "adam"  # one of OPTIMIZERS
    learning_rate: float = 1e-3  # peak learning rate
    momentum: float = 0.9  # sgd and rmsprop only
    # decoupled weight decay, biases and norm layers excluded; sgd_l2: L2 on every variable,
    # added to the gradient (through the momentum, as torch.optim.SGD couples it)
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | cosine | linear (both decay to 0 after the warmup)
    warmup_epochs: float = 0.0  # linear warmup, in epochs
    warmup_from: float = 0.0  # the fraction of the peak rate the warmup starts at
    lookahead: int = 0  # every K steps the weights become their moving average; 0: off
    label_smoothing: float = 0.0
    augment: str = "none"  # images: none | flip | crop (pad 4 and crop) | flip_crop; audio: shift
    image_size: int | None = None  # square resize for images; None: the dataset's own size
    max_tokens: int = 20000  # text: vocabulary size, fitted on the training split only
    sequence_length: int = 256  # text: tokens per example after padding/truncation
    standardize: str = "lower_and_strip_punctuation"  # text: one of STANDARDIZE
    val_fraction: float = 0.1  # carved from train when the dataset has no validation split
    clip_seconds: float | None = None  # audio: clip length; None: 95th percentile of train
    frontend: dict = field(default_factory=dict)  # audio: log-mel front end (--set frontend.K=V)
    seed: int = 0  # seeds weights, shuffling and augmentation
    deterministic: bool = False  # op determinism too: identical metrics run to run, slower
    early_stopping: int = 0  # patience in epochs on validation loss; 0 turns it off
    keep: str = "best"  # the weights a run saves, tests and exports: best (validation) | last
    smoke: bool = False  # tiny splits and 1 epoch: checks the whole path in seconds
    strategy: str = "auto"  # one of STRATEGIES
    precision: str = "auto"  # one of PRECISIONS; auto: what the hardware runs natively
    xla: str = "auto"  # auto (off on CPU, on for GPU/TPU without a strategy) | on | off
    steps_per_execution: int = 1  # training steps per tf.function call (TPUs, tiny models)
    train_split: str | None = None  # TFDS split to train on instead of the dataset's own
    init_from: str | None = None  # a run (or pretraining run) whose matching weights start training
    model_config: dict = field(default_factory=dict)  # overrides of the architecture config

    def __post_init__(self):
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("augment", self.augment, AUGMENTATIONS)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("xla", self.xla, XLA_MODES)
        _check_choice("standardize", self.standardize, STANDARDIZE)
        _check_choice("keep", self.keep, KEEP)
        for name, bounds in RANGES.items():
            check_range(name, getattr(self, name), *bounds)
        if self.train_split is not None and not self.train_split.strip():
            raise ZooError("--split is empty; name a split such as 'train' or 'train[:80%]'")

    # The groups the engine passes around (the flat form is what files and flags use).
    @property
    def data_config(self) -> DataConfig:
        return _group(DataConfig, self)

    @property
    def optimization(self) -> OptimizationConfig:
        return _group(OptimizationConfig, self)

    @property
    def runtime(self) -> RuntimeConfig:
        return _group(RuntimeConfig, self)


# name: (low, high, low included, high included). Integers are bounded too: a value TensorFlow
# cannot hold is an error here, not a traceback later.
RANGES: dict[str, tuple] = {
    "epochs": (1, 100_000, True, True),
    "batch_size": (1, 1 << 20, True, True),
    "learning_rate": (0.0, 10.0, False, True),
    "momentum": (0.0, 1.0, True, False),
    "weight_decay": (0.0, 1.0, True, True),
    "warmup_epochs": (0.0, 100_000.0, True, True),
    "warmup_from": (0.0, 1.0, True, True),
    "lookahead": (0, 1_000_000, True, True),
    "label_smoothing": (0.0, 1.0, True, False),
    "image_size": (8, 4096, True, True),
    "max_tokens": (1, 10_000_000, True, True),
    "sequence_length": (1, 100_000, True, True),
    "val_fraction": (0.0, 0.5, False, False),
    "clip_seconds": (0.01, 600.0, True, True),
    "seed": (0, 2**31 - 1, True, True),
    "early_stopping": (0, 100_000, True, True),
    "steps_per_execution": (1, 100_000, True, True),
}


def check_range(
    name: str, value, low, high, low_in: bool = True, high_in: bool = True, flag: str = ""
) -> None:
    """ZooError naming the value, the allowed range and the flag unless low <= value <= high
    (bounds included or not) and finite. ``None`` (an unset optional) passes."""
    if value is None:
        return
    try:
        ok = math.isfinite(value) and (value >= low if low_in else value > low)
    except (OverflowError, TypeError):
        ok = False
    ok = ok and (value <= high if high_in else value < high)
    if not ok:
        interval = f"{'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"
        flag = flag or "--" + name.replace("_", "-")
        raise ZooError(f"{name} must be in {interval}, got {value!r} (set it with {flag})")


def ranged(default, low, high, low_in: bool = True, high_in: bool = True):
    """A config field with its allowed range beside its default (a tuple default: each item);
    ``check_fields`` enforces it."""
    return field(default=default, metadata={"range": (low, high, low_in, high_in)})


def check_fields(obj, prefix: str = "") -> None:
    """Check every ranged field of the dataclass ``obj`` (``prefix``: e.g. "model.")."""
    for f in dataclasses.fields(obj):
        bounds = f.metadata.get("range")
        if bounds is None:
            continue
        value = getattr(obj, f.name)
        items = value if isinstance(value, tuple) else (value,)
        if isinstance(value, tuple) and not value:
            raise ZooError(f"{prefix}{f.name} must not be empty")
        for item in items:
            name = f"{prefix}{f.name}"
            check_range(name, item, *bounds, flag=f"--set {name}=VALUE")


@dataclass(frozen=True)
class DataConfig:
    """What the input pipelines depend on."""

    dataset: str
    data_dir: str | None
    train_split: str | None
    val_fraction: float
    batch_size: int
    image_size: int | None
    augment: str
    max_tokens: int
    sequence_length: int
    standardize: str
    clip_seconds: float | None
    frontend: dict
    smoke: bool
    seed: int


@dataclass(frozen=True)
class OptimizationConfig:
    """What the optimizer, schedule, loss and stopping rule depend on."""

    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    momentum: float
    weight_decay: float
    schedule: str
    warmup_epochs: float
    warmup_from: float
    lookahead: int
    label_smoothing: float
    early_stopping: int
    keep: str


@dataclass(frozen=True)
class RuntimeConfig:
    """Where and how the steps run."""

    strategy: str
    precision: str
    xla: str
    steps_per_execution: int
    deterministic: bool
    seed: int
    batch_size: int


def _group(cls: type, config: TrainConfig):
    return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ZooError(
            f"unknown {name} {value!r}{did_you_mean(value, choices)}; choose one of {', '.join(choices)}"
        )


# ---------------------------------------------------------------------------------------------
# Strict construction from plain dicts (files, --set, JSON saved in runs)
# ---------------------------------------------------------------------------------------------


def from_dict(cls: type, values: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from ``values``: unknown keys and wrong types raise ZooError."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise ZooError(
                f"unknown key {key!r} in {where}{did_you_mean(key, names)}; "
                f"valid keys: {', '.join(names)}"
            )
        kwargs[key] = coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def replace(obj: Any, values: dict[str, Any], where: str = "config", prefix: str = "") -> Any:
    """``dataclasses.replace`` with the same strict checking as ``from_dict``, then the ranges of
    ranged fields (``prefix`` names them in errors, e.g. "model.")."""
    merged = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    checked = from_dict(type(obj), values, where) if values else None
    if checked is not None:
        merged.update({k: getattr(checked, k) for k in values})
    out = type(obj)(**merged)
    check_fields(out, prefix)
    return out


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a type hint, converting only where it is lossless."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, where)
            except ZooError as e:
                errors.append(str(e))
        raise ZooError(errors[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ZooError(f"{where} must be a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(coerce(v, item, where) for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ZooError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ZooError(f"{where} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ZooError(f"{where} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ZooError(f"{where} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ZooError(f"{where} must be a string, got {value!r}")
    return value


def parse_set(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Parse ``--set key=value`` items (values read as YAML scalars: 3, 0.1, true, [1, 2])."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ZooError(f"--set expects key=value, got {item!r} (e.g. --set learning_rate=0.01)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(out, key.strip(), value)
    return out


def _set_dotted(out: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    if parts[0] == "model" and len(parts) > 1:  # --set model.dropout=0.2
        parts = ["model_config", *parts[1:]]
    node = out
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a dict (``model:`` maps to the architecture config)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ZooError(
            f"config file {path} is not valid YAML/JSON: {str(e).splitlines()[0]}"
        ) from e
    if not isinstance(data, dict):
        raise ZooError(f"config file {path} must hold a mapping of keys to values")
    if isinstance(data.get("model"), dict):
        data["model_config"] = data.pop("model")
    return data


def merge(*layers: dict[str, Any]) -> dict[str, Any]:
    """Merge config layers left to right; ``model_config`` dicts merge key by key."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in ("model_config", "frontend") and isinstance(value, dict):
                out[key] = {**out.get(key, {}), **value}
            else:
                out[key] = value
    return out
