"""Search spaces: what a study varies, parsed from ``--param`` items, a ``--space`` YAML file or
the family's default space (declared beside its recipe, ``register_model(space=...)``).

One syntax everywhere, ``NAME=SPEC``:

    lr=log:1e-4..1e-2          float, log-uniform (``lr`` is ``learning_rate``)
    model.dropout=0.0..0.5     float, uniform
    batch_size=int:32..256     integer (``int-log:`` for log-uniform)
    optimizer=adam,sgd         categorical (also for a grid in ``zoo sweep``)
    seed=0,1,2                 categorical numbers are read as YAML scalars

Every bound and choice is checked against the range the config declares for its key, exactly
as ``--set`` checks a value, so a search never draws a value a run would refuse.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import config as cfg
from zoo.config import TrainConfig
from zoo.errors import ZooError, did_you_mean

ALIASES = {"lr": "learning_rate"}
KINDS = ("float", "log", "int", "int-log")
# Keys a search may not vary: they name the run, its data or its hardware, not its recipe.
FIXED = {
    "model",
    "dataset",
    "data_dir",
    "train_split",
    "init_from",
    "smoke",
    "strategy",
    "epochs",
    "model_config",
    "frontend",
}


@dataclass(frozen=True)
class Param:
    """One searched key: a range (``kind`` float/log/int/int-log) or a list of ``choices``."""

    name: str  # the config key: "learning_rate", "model.dropout", "frontend.num_mel_bins"
    kind: str = "categorical"  # one of KINDS, or "categorical"
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    def spec(self) -> str:
        """The ``NAME=SPEC`` text that parses back to this parameter."""
        if self.kind == "categorical":
            return f"{self.name}={','.join(_text(c) for c in self.choices)}"
        prefix = "" if self.kind == "float" else f"{self.kind}:"
        return f"{self.name}={prefix}{_text(self.low)}..{_text(self.high)}"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, ())}

    def suggest(self, trial) -> Any:
        """Draw this parameter's value for an Optuna trial. Choices Optuna cannot store (lists,
        e.g. ``model.units=[64],[128]``) are drawn as their JSON text and read back."""
        if self.kind == "categorical":
            drawn = trial.suggest_categorical(self.name, [_storable(c) for c in self.choices])
            return decode(drawn) if any(_storable(c) != c for c in self.choices) else drawn
        if self.kind in ("int", "int-log"):
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), log=self.kind == "int-log"
            )
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "log")


def _storable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def decode(value: Any) -> Any:
    """A drawn value as the config takes it (JSON text of a list back to the list)."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return repr(value) if isinstance(value, float) else str(value)


def _scalar(raw: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw


def _number(raw: str, item: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ZooError(f"--param {item}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ZooError(f"--param {item}: bounds must be finite, got {raw!r}")
    return value


def parse(item: str) -> Param:
    """``NAME=SPEC`` -> Param (the syntax is in this module's docstring)."""
    name, sep, spec = item.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise ZooError(
            f"--param expects NAME=SPEC, got {item!r} (e.g. --param lr=log:1e-4..1e-2, "
            "--param optimizer=adam,sgd)"
        )
    name = ALIASES.get(name, name)
    if ".." in spec:
        kind, colon, bounds = spec.partition(":")
        if not colon:
            kind, bounds = "float", spec
        if kind not in KINDS:
            raise ZooError(
                f"--param {item}: unknown range kind {kind!r}; choose one of {', '.join(KINDS)}"
            )
        lo_raw, _, hi_raw = bounds.partition("..")
        low, high = _number(lo_raw, item), _number(hi_raw, item)
        if low >= high:
            raise ZooError(f"--param {item}: low {lo_raw} must be below high {hi_raw}")
        if kind in ("log", "int-log") and low <= 0:
            raise ZooError(f"--param {item}: a log range must be above 0, got low {lo_raw}")
        if kind.startswith("int") and (low != int(low) or high != int(high)):
            raise ZooError(f"--param {item}: integer bounds must be whole numbers")
        return Param(name, kind, low, high)
    choices = tuple(_scalar(c.strip()) for c in _split(spec))
    if any(c == "" for c in choices):
        raise ZooError(f"--param {item}: an empty choice; list values as a,b,c")
    if len(set(map(repr, choices))) != len(choices):
        raise ZooError(f"--param {item}: a choice is listed twice")
    return Param(name, "categorical", choices=choices)


def _split(text: str) -> list[str]:
    """Split at commas outside brackets: ``[64],[128, 128]`` is two choices."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def parse_all(items: typing.Iterable[str]) -> list[Param]:
    params = [parse(i) for i in items]
    names = [p.name for p in params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ZooError(f"--param {twice[0]} is given twice; give each parameter once")
    return params


def load_file(path: str | Path) -> list[Param]:
    """A ``--space`` YAML/JSON file: a mapping of NAME to SPEC (``lr: log:1e-4..1e-2``) or to a
    list of choices (``optimizer: [adam, sgd]``)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"--space {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ZooError(f"--space {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not data:
        raise ZooError(f"--space {path} must map parameter names to ranges or lists of values")
    items = []
    for name, spec in data.items():
        if isinstance(spec, list):
            spec = ",".join(str(v) for v in spec)
        items.append(f"{name}={spec}")
    return parse_all(items)


# ---------------------------------------------------------------------------------------------
# Checks against the config: names, ranges, choices
# ---------------------------------------------------------------------------------------------


def _train_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig) if f.name not in FIXED]


def check(params: list[Param], base: TrainConfig, model_fields: dict[str, Any]) -> None:
    """Refuse unknown names (did-you-mean), fixed keys, and bounds or choices outside what the
    config accepts for the key. ``model_fields``: the family's architecture fields and values."""
    if not params:
        raise ZooError("the search space is empty; add --param NAME=SPEC or --space FILE")
    for p in params:
        group, _, key = p.name.partition(".")
        if group == "model" and key:
            if key not in model_fields:
                raise ZooError(
                    f"--param {p.name}: unknown architecture key{did_you_mean(key, model_fields)}"
                    f"; `zoo models {base.model}` lists them"
                )
        elif group == "frontend" and key:
            pass  # checked by building the front-end config below
        elif p.name in FIXED:
            raise ZooError(
                f"--param {p.name}: {p.name} is not searched (it fixes what the study is "
                "about); set it with its flag for the whole study"
            )
        elif p.name not in _train_keys():
            names = [*_train_keys(), *(f"model.{k}" for k in model_fields)]
            raise ZooError(
                f"--param {p.name}: unknown parameter{did_you_mean(p.name, names)}; "
                "searchable: the keys of `zoo train --print-config` and model.KEY"
            )
        for value in _probe_values(p):
            apply(base, {p.name: value})  # raises the same one line --set would


def _probe_values(p: Param) -> list[Any]:
    if p.kind == "categorical":
        return list(p.choices)
    if p.kind.startswith("int"):
        return [int(p.low), int(p.high)]
    return [p.low, p.high]


def apply(base: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """``base`` with the drawn ``values`` (flat names, ``model.`` and ``frontend.`` dotted),
    checked as strictly as ``--set``."""
    from zoo.models import registry

    flat = cfg.to_dict(base)
    for name, value in values.items():
        group, _, key = name.partition(".")
        if group == "model" and key:
            flat["model_config"] = {**flat.get("model_config", {}), key: value}
        elif group == "frontend" and key:
            flat["frontend"] = {**flat.get("frontend", {}), key: value}
        else:
            flat[name] = value
    config = cfg.from_dict(TrainConfig, flat, where="search")
    registry.model_config(config.model, config.model_config)  # architecture ranges
    if config.frontend:
        from zoo.models.audio import frontend_config

        frontend_config(config.frontend)
    return config


def default_space(spec) -> list[Param]:
    """The family's declared space (``register_model(space=...)``)."""
    return parse_all(f"{k}={v}" for k, v in spec.space.items())
