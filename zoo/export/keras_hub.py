"""``zoo export RUN --format keras-hub``: a zoo BERT or ViT run as a KerasHub preset (backbone,
and the tokenizer or image converter), reloaded with KerasHub and compared with the run's model.
The variable pairs and the outputs under KerasHub's names come from ``zoo.training.presets``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.errors import ZooError, with_article
from zoo.training.presets import (
    FAMILIES,
    backbone_outputs,
    has_layer,
    hub_inputs,
    import_keras_hub,
    variable_pairs,
)


def _bert_to_hub(keras_hub, run, model, arch):
    """-> (BertBackbone, BertTokenizer, zoo inputs, KerasHub inputs, notes) of a BERT run."""
    import numpy as np

    from zoo.data import preprocess

    if arch.activation != "gelu_approximate":
        raise ZooError(
            f"{run.path} uses exact GELU (model.activation={arch.activation}); KerasHub's "
            "BERT computes the tanh approximation, so its outputs would differ"
        )
    encoder = preprocess.load_text_encoder(run.preprocessor_dir)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=model.get_layer("token_embedding").input_dim,
        num_layers=arch.num_layers,
        num_heads=arch.num_heads,
        hidden_dim=arch.hidden_size,
        intermediate_dim=arch.mlp_dim,
        dropout=arch.dropout,
        max_sequence_length=arch.max_positions,
    )
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=encoder.vocabulary,
        lowercase=encoder.lower_case,
        strip_accents=encoder.strip_accents,
    )
    notes = []
    if not has_layer(model, "pooler"):
        notes.append("pooled_dense keeps KerasHub's initialisation (this run has no pooler)")
    texts = ["The zoo exports BERT.", "Ünïcödé, punctuation!? and unknown-words"]
    inputs = encoder(np.array(texts)).numpy()
    return backbone, tokenizer, inputs, hub_inputs(inputs, encoder.sep_id), notes


def _vit_to_hub(keras_hub, run, model, arch):
    """-> (ViTBackbone, ViTImageConverter, zoo inputs, KerasHub inputs, notes) of a ViT run."""
    import numpy as np

    from zoo.models.vit import patch_size_for

    h, w, c = model.input_shape[1:]
    patch = patch_size_for(arch, min(h, w))
    if h % patch or w % patch:
        raise ZooError(
            f"KerasHub's ViT needs the image size to be a multiple of the patch; {run.path} "
            f"reads {h}x{w} images with patch {patch}"
        )
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(h, w, c),
        patch_size=patch,
        num_layers=arch.num_layers,
        num_heads=arch.num_heads,
        hidden_dim=arch.hidden_size,
        mlp_dim=arch.mlp_dim,
        dropout_rate=arch.dropout,
        attention_dropout=arch.attention_dropout,
        layer_norm_epsilon=arch.layer_norm_epsilon,
    )
    # The zoo feeds [0, 1] pixels and scales them to [-1, 1]; KerasHub's converter maps raw
    # [0, 255] pixels with a scale and an offset.
    converter = keras_hub.layers.ViTImageConverter(image_size=(h, w), scale=1 / 127.5, offset=-1.0)
    inputs = np.random.default_rng(0).random((2, h, w, c), dtype="float32")
    return backbone, converter, inputs, inputs * 2.0 - 1.0, []


def export_run_preset(run_dir, root, name: str | None = None) -> dict[str, Any]:
    """``zoo export --format keras-hub``: ROOT/NAME/keras-hub/ from a BERT or ViT run (a
    fine-tuned or a masked-LM pretraining run); never overwrites."""
    from zoo.runs import rundir

    run = rundir.open_run(run_dir, classifier=False)
    name = name or run.name
    rundir.check_run_name(name)
    return export_preset(run, Path(root) / name / "keras-hub")


def export_preset(run, out_dir: Path) -> dict[str, Any]:
    """Write ``run`` (a zoo BERT or ViT run) as a KerasHub preset in ``out_dir`` (backbone,
    and the tokenizer for BERT), reload it with KerasHub and compare the outputs."""
    import numpy as np

    from zoo.export.loading import as_float32, load_keras_model
    from zoo.models import registry
    from zoo.runs import rundir

    if out_dir.exists():
        raise ZooError(f"{out_dir} exists; pick another --name or --output (nothing overwritten)")
    keras_hub = import_keras_hub()
    config = run.config()
    spec = registry.get_spec(config.get("model", ""))
    if spec.family not in FAMILIES.values():
        raise ZooError(
            "--format keras-hub exports BERT and ViT runs; "
            f"{run.path} holds {with_article(spec.name)} "
            f"({spec.family}) model"
        )
    model = as_float32(load_keras_model(run))  # a preset computes in float32, as KerasHub loads it
    began = registry.run_architecture(spec.name, config.get("model_config"), run.record())
    arch = registry.model_config(spec.name, began)
    to_hub = _bert_to_hub if spec.family == "bert" else _vit_to_hub
    backbone, preprocessor, inputs, feed, notes = to_hub(keras_hub, run, model, arch)
    for zoo_vars, hub_vars in variable_pairs(model, backbone, spec.family):
        for z, hv in zip(zoo_vars, hub_vars):
            hv.assign(z.numpy())

    def fill(tmp: Path):
        backbone.save_to_preset(str(tmp))
        preprocessor.save_to_preset(str(tmp))
        (tmp / "zoo.json").write_text(
            json.dumps({"run": str(run.path), "model": spec.name}, indent=2) + "\n"
        )

    rundir.write_dir_atomic(out_dir, fill)
    # Verify: KerasHub loads what was written and computes what the zoo model computes.
    reloaded = type(backbone).from_preset(str(out_dir))
    ours = backbone_outputs(model, spec.family)(inputs)
    theirs = reloaded(feed)
    if spec.family == "vit":
        theirs = {"sequence_output": theirs}
    diffs = {k: float(np.max(np.abs(np.asarray(ours[k]) - np.asarray(theirs[k])))) for k in ours}
    return {
        "format": "keras-hub",
        "preset": str(out_dir),
        "backbone": type(backbone).__name__,
        "max_abs_diff": diffs,
        "notes": notes,
        "load_with": f"keras_hub.models.{type(backbone).__name__}.from_preset({str(out_dir)!r})",
    }
