"""Fine-tuning: start a model from the matching layers of an earlier run (``--init-from``).

Layers are matched by name, which the family builders keep stable (``token_embedding``,
``block_3``, ``conv2``, ...): every layer of the new model that has a namesake in the source run
takes its weights, the classifier (``logits``) always starts fresh, and layers the source lacks
(BERT's pooler after masked-LM pretraining) keep their initialisation. A namesake with other
shapes (another image size or channel count, another vocabulary) is a clear error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from zoo.errors import ZooError, with_article
from zoo.models import registry
from zoo.runs import rundir

FRESH = ("logits", "logits_dropout")  # the task head: always trained from scratch


def source_run(name_or_path: str, runs_dir: Path):
    """What ``--init-from`` names: a run (a path, or a run name under ``runs_dir``), else a
    KerasHub preset (a preset directory, a preset name or a kaggle:// / hf:// handle)."""
    from zoo.runs import rundir
    from zoo.training import presets

    if presets.is_preset(name_or_path, runs_dir):
        return presets.resolve(name_or_path)
    path = Path(name_or_path)
    if not path.exists() and not path.is_absolute() and (runs_dir / name_or_path).exists():
        path = runs_dir / name_or_path
    if not path.exists():
        raise ZooError(
            f"--init-from: no run {name_or_path!r} (neither a path nor a run in {runs_dir}) and "
            "no KerasHub preset of that name; `zoo runs` lists runs, `zoo models` presets"
        )
    return rundir.open_run(path, classifier=False)


def _layers(model):
    """Every weighted layer by name, nested models flattened."""
    out = {}
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            out.update(_layers(layer))
        elif layer.weights:
            out[layer.name] = layer
    return out


def init_from(model, run, target_family: str, console=None) -> int:
    """Copy the weights of ``run``'s model (or of a KerasHub preset) into ``model``'s
    same-named layers; -> layers (for a preset: variables) loaded."""
    from zoo.export.loading import load_keras_model
    from zoo.training import presets

    if isinstance(run, presets.Preset):
        return presets.load_weights(model, run, console)

    source_model = run.config().get("model", "")
    source_family = registry.get_spec(source_model).family if source_model else "?"
    if source_family != target_family:
        raise ZooError(
            f"--init-from: {run.path} holds {with_article(source_model)} model "
            f"({source_family} family); initialise {with_article(target_family)} model from a "
            f"run of the {target_family} family"
        )
    source = _layers(load_keras_model(run))
    loaded = 0
    for name, layer in _layers(model).items():
        if name in FRESH or name not in source:
            continue
        src = source[name].get_weights()
        dst = [tuple(w.shape) for w in layer.weights]
        if [tuple(w.shape) for w in src] != dst:
            got = ", ".join(str(tuple(w.shape)) for w in src)
            want = ", ".join(str(s) for s in dst)
            raise ZooError(
                f"--init-from: layer {name} has weights of shape {got} in {run.path} but "
                f"{want} here (another input size, channel count or vocabulary); train with "
                "the source run's input settings or start from scratch"
            )
        layer.set_weights(src)
        loaded += 1
    if not loaded:
        raise ZooError(f"--init-from: no layer of {run.path} matches this model")
    return loaded


def source_for(init_from: str | None, run):
    """``--init-from``: the source (a zoo run or a KerasHub preset), or None."""
    if not init_from:
        return None
    return source_run(init_from, run.path.parent)


def source_architecture(config, spec, source, console):
    """A fine-tune of a zoo run of the same model builds the source's architecture where the
    new run's config (recipe, --set) leaves today's defaults: the weights go back into the net
    they were trained in, even after a default changed (resnet's stride_padding)."""
    source_config = source.config() if isinstance(source, rundir.Run) else {}
    if source_config.get("model") != spec.name:
        return config
    began = registry.run_architecture(spec.name, source_config.get("model_config"), source.record())
    today = registry.architecture(spec.name)
    inherited = {
        k: v
        for k, v in began.items()
        if k in today and k not in config.model_config and v != today[k]
    }
    if not inherited:
        return config
    said = ", ".join(f"model.{k}={v}" for k, v in inherited.items())
    console.print(f"note: {said} as in {source.path} (--set model.KEY=VALUE to change)")
    return dataclasses.replace(config, model_config={**inherited, **config.model_config})


def warm_start(model, source, spec, console) -> None:
    """Copy the matching layers of ``source`` (if any) into a freshly built ``model``."""
    if source is None:
        return
    from zoo.training import presets

    loaded = init_from(model, source, spec.family, console)
    what = "weights of KerasHub preset" if isinstance(source, presets.Preset) else "layers from"
    console.print(f"initialised {loaded} {what} {source.path}")
