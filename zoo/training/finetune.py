"""Fine-tuning: start a model from the matching layers of an earlier run (``--init-from``).

Layers are matched by name, which the family builders keep stable (``token_embedding``,
``block_3``, ``conv2``, ...): every layer of the new model that has a namesake in the source run
takes its weights, the classifier (``logits``) always starts fresh, and layers the source lacks
(BERT's pooler after masked-LM pretraining) keep their initialisation. A namesake with other
shapes (another image size or channel count, another vocabulary) is a clear error.
"""

from __future__ import annotations

from pathlib import Path

from zoo.errors import ZooError
from zoo.models import registry

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
            f"--init-from: {run.path} holds a {source_model} model ({source_family} family); "
            f"initialise a {target_family} model from a run of the {target_family} family"
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
