"""KerasHub presets: start a zoo BERT or ViT from published weights (``--init-from PRESET``)
and share a zoo run the way the field shares checkpoints (``zoo export --format keras-hub``).

A preset is whatever ``keras_hub`` itself resolves: a local preset directory, a built-in name
(``bert_tiny_en_uncased``, ``vit_base_patch16_224_imagenet``) or a handle (``kaggle://...``,
``hf://...``); KerasHub downloads and caches names and handles when the network is there. The
zoo reads the preset's backbone config, builds the zoo architecture that computes the same
function (``model_settings``), copies every backbone weight (``load_weights``) and, for BERT,
uses the preset's vocabulary and normalisation (``tokenizer``). Nothing here is imported on
the ``zoo --help`` path: ``keras_hub`` loads only when a preset is used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError, with_article

HANDLES = ("kaggle://", "hf://", "modelscope://", "gs://")

# zoo variant -> KerasHub presets of exactly its architecture (`zoo models` shows them; a test
# checks each name against keras_hub's own preset list).
PRESETS = {
    "bert_tiny": ("bert_tiny_en_uncased",),
    "bert_small": ("bert_small_en_uncased",),
    "bert_base": ("bert_base_en_uncased", "bert_base_en", "bert_base_multi", "bert_base_zh"),
    "vit_base": (
        "vit_base_patch16_224_imagenet",
        "vit_base_patch16_384_imagenet",
        "vit_base_patch32_384_imagenet",
        "vit_base_patch16_224_imagenet21k",
        "vit_base_patch32_224_imagenet21k",
    ),
}
FAMILIES = {"BertBackbone": "bert", "ViTBackbone": "vit"}
MODALITY = {"bert": "text", "vit": "image"}


def is_preset(value: str, runs_dir: Path) -> bool:
    """What ``--init-from VALUE`` means: False for a zoo run (a path holding run.json, or a run
    name under ``runs_dir``), else whether VALUE is a KerasHub preset."""
    path = Path(value)
    if not path.exists() and not path.is_absolute() and (runs_dir / value).exists():
        path = runs_dir / value
    return not (path / "run.json").exists() and looks_like_preset(value)


def looks_like_preset(value: str) -> bool:
    """True for a handle, a KerasHub preset directory or a built-in preset name (the last
    needs ``keras_hub``; only asked for values that are not zoo runs)."""
    if value.startswith(HANDLES):
        return True
    path = Path(value)
    if path.is_dir():
        return (path / "config.json").exists() and not (path / "run.json").exists()
    if "/" in value or value.startswith("."):
        return False
    try:
        import keras_hub
    except ImportError:
        return False
    return value in keras_hub.models.Backbone.presets


def import_keras_hub():
    try:
        import keras_hub
    except ImportError:
        raise ZooError("KerasHub presets need keras-hub: pip install 'keras-hub>=0.32'") from None
    return keras_hub


def _hub_error(preset: str, error: Exception) -> ZooError:
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return ZooError(
        f"could not load KerasHub preset {preset!r}: {first[:300]} (offline? copy the preset "
        "directory here and pass its path to --init-from)"
    )


@dataclass(frozen=True)
class Preset:
    """A resolved KerasHub preset: its handle, family and backbone config."""

    handle: str
    family: str  # bert | vit
    backbone: dict  # the backbone's get_config()
    pixels: tuple | None = None  # ViT: the image converter's (scale, offset) on [0, 255] pixels

    @property
    def modality(self) -> str:
        return MODALITY[self.family]

    @property
    def path(self) -> str:  # what messages name, as a run's path is named
        return self.handle

    def describe(self) -> str:
        b = self.backbone
        if self.family == "bert":
            return (
                f"BERT L={b['num_layers']} H={b['hidden_dim']} A={b['num_heads']} "
                f"vocabulary {b['vocabulary_size']:,}"
            )
        return (
            f"ViT L={b['num_layers']} D={b['hidden_dim']} heads={b['num_heads']} patch "
            f"{_pair(b['patch_size'])[0]} at {b['image_shape'][0]}x{b['image_shape'][1]}"
        )

    @functools.cached_property
    def preprocessor_dir(self) -> Path | None:
        """BERT: the preset's vocabulary in the zoo's text-encoder layout (a temporary folder;
        the run saves its own copy in preprocessor/). ViT: None."""
        if self.family != "bert":
            return None
        import atexit
        import shutil
        import tempfile

        from zoo.data import preprocess

        tok = hub_tokenizer(self.handle)
        folder = Path(tempfile.mkdtemp(prefix="zoo-preset-vocab-"))
        atexit.register(shutil.rmtree, folder, True)
        encoder = preprocess.WordPiece(
            tok.get_vocabulary(), 8, bool(tok.lowercase), bool(tok.strip_accents)
        )
        preprocess.save_text_encoder(encoder, folder)
        return folder


@functools.lru_cache(maxsize=8)
def resolve(handle: str) -> Preset:
    """Read a preset's backbone config (no weights yet); wrong kinds are one-line errors."""
    keras_hub = import_keras_hub()
    try:
        from keras_hub.src.utils.preset_utils import get_preset_loader

        loader = get_preset_loader(handle)
        cls = loader.check_backbone_class()
    except Exception as e:  # noqa: BLE001 (keras_hub raises ValueError, OSError, HTTP, Kaggle...)
        raise _hub_error(handle, e) from None
    family = FAMILIES.get(cls.__name__)
    if family is None:
        raise ZooError(
            f"KerasHub preset {handle!r} is a {cls.__name__}; the zoo starts BERT (BertBackbone) "
            "and ViT (ViTBackbone) models from presets"
        )
    try:
        backbone = getattr(keras_hub.models, cls.__name__).from_preset(handle, load_weights=False)
    except Exception as e:  # noqa: BLE001 (any failure of keras_hub: one line)
        raise _hub_error(handle, e) from None
    pixels = None
    if family == "vit":
        try:
            converter = keras_hub.layers.ImageConverter.from_preset(handle)
            pixels = (converter.scale, converter.offset)
        except Exception:  # noqa: BLE001 (no image_converter.json: a backbone alone)
            pixels = None
    return Preset(handle, family, backbone.get_config(), pixels)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def model_settings(preset: Preset, spec) -> dict[str, Any]:
    """The zoo architecture keys (``model_config``) that compute the preset's function; a
    preset of another family, or one using options the zoo's layers lack, is an error naming
    what differs."""
    if spec.family != preset.family:
        raise ZooError(
            f"--init-from {preset.handle}: the preset is {with_article(preset.family.upper())} "
            f"{preset.modality} encoder, and {spec.name} is {with_article(spec.family)} "
            f"{spec.modality} "
            f"model; train `{preset.family}` from it (zoo train {preset.family} --init-from "
            f"{preset.handle} ...)"
        )
    b = preset.backbone
    if preset.family == "bert":
        if b.get("num_segments", 2) != 2:
            raise ZooError(
                f"--init-from {preset.handle}: the preset has {b['num_segments']} segment "
                "embeddings; the zoo's BERT has 2"
            )
        if b["hidden_dim"] % b["num_heads"]:
            raise ZooError(f"--init-from {preset.handle}: hidden_dim is not a multiple of heads")
        return {
            "hidden_size": b["hidden_dim"],
            "num_layers": b["num_layers"],
            "num_heads": b["num_heads"],
            "mlp_dim": b["intermediate_dim"],
            "max_positions": b["max_sequence_length"],
            "activation": "gelu_approximate",
        }
    unsupported = [
        key
        for key, want in (
            ("use_mha_bias", True),
            ("use_mlp_bias", True),
            ("use_class_token", True),
            ("use_patch_bias", True),
        )
        if b.get(key, want) != want
    ]
    if unsupported:
        what = ", ".join(f"{k}={b[k]}" for k in unsupported)
        raise ZooError(
            f"--init-from {preset.handle}: the zoo's ViT cannot express {what} (it has biases "
            "everywhere and a class token)"
        )
    if preset.pixels is not None and not _unit_range(*preset.pixels):
        raise ZooError(
            f"--init-from {preset.handle}: the preset's image converter maps pixels with scale "
            f"{preset.pixels[0]} and offset {preset.pixels[1]}; the zoo's ViT reads pixels "
            "scaled to [-1, 1] (scale 1/127.5, offset -1)"
        )
    patch = _pair(b["patch_size"])
    if patch[0] != patch[1]:
        raise ZooError(f"--init-from {preset.handle}: non-square patches {patch} are not supported")
    return {
        "hidden_size": b["hidden_dim"],
        "num_layers": b["num_layers"],
        "num_heads": b["num_heads"],
        "mlp_dim": b["mlp_dim"],
        "patch_size": patch[0],
        "layer_norm_epsilon": float(b.get("layer_norm_epsilon", 1e-6)),
    }


def _unit_range(scale, offset) -> bool:
    """True when (scale, offset), scalars or per channel, map [0, 255] to [-1, 1]."""
    import numpy as np

    if scale is None or offset is None:  # raw [0, 255] pixels (or a half-given mapping)
        return False
    return bool(
        np.allclose(np.asarray(scale, "float64"), 1 / 127.5, rtol=1e-4)
        and np.allclose(np.asarray(offset, "float64"), -1.0, atol=1e-4)
    )


def matching_variant(preset: Preset, family: str, registry) -> str:
    """The registered variant whose default architecture is the preset's, else the family's
    default variant (the architecture keys then override it)."""
    settings = model_settings(preset, registry.get_spec(family))
    for spec in registry.list_models(family):
        fields = registry.config_fields(spec)
        if spec.family == family and all(
            fields.get(k) in (v, "auto") for k, v in settings.items() if k != "activation"
        ):
            return spec.name
    return registry.get_spec(family).name


@functools.lru_cache(maxsize=4)
def hub_tokenizer(handle: str):
    keras_hub = import_keras_hub()
    try:
        tokenizer = keras_hub.models.Tokenizer.from_preset(handle)
    except Exception as e:  # noqa: BLE001 (any failure of keras_hub: one line)
        raise _hub_error(handle, e) from None
    config = tokenizer.get_config()
    if config.get("suffix_indicator", "##") != "##" or not config.get("split", True):
        raise ZooError(
            f"--init-from {handle}: the preset's tokenizer uses suffix "
            f"{config.get('suffix_indicator')!r} and split={config.get('split')}; the zoo's "
            "WordPiece uses BERT's ('##', split on whitespace and punctuation)"
        )
    if config.get("oov_token", "[UNK]") != "[UNK]":
        raise ZooError(f"--init-from {handle}: the preset's unknown token is not [UNK]")
    return tokenizer


# ---------------------------------------------------------------------------------------------
# Weights: zoo layer <-> KerasHub layer, one pair of variable lists each
# ---------------------------------------------------------------------------------------------


def _block_pairs(zoo_block, attention, norm1, fc1, fc2, norm2):
    return [
        (zoo_block.attention.weights, attention.weights),
        (zoo_block.norm1.weights, norm1.weights),
        (zoo_block.fc1.weights, fc1.weights),
        (zoo_block.fc2.weights, fc2.weights),
        (zoo_block.norm2.weights, norm2.weights),
    ]


def variable_pairs(model, backbone, family: str) -> list[tuple[list, list]]:
    """(zoo variables, KerasHub variables) in matching order, the whole backbone."""
    get = model.get_layer
    if family == "bert":
        pairs = [
            (get("token_embedding").weights, backbone.token_embedding.weights),
            (get("position_embedding").weights, backbone.position_embedding.weights),
            (get("segment_embedding").weights, backbone.segment_embedding.weights),
            (get("embedding_norm").weights, backbone.embeddings_layer_norm.weights),
        ]
        for i, layer in enumerate(backbone.transformer_layers):
            pairs += _block_pairs(
                get(f"block_{i}"),
                layer._self_attention_layer,
                layer._self_attention_layer_norm,
                layer._feedforward_intermediate_dense,
                layer._feedforward_output_dense,
                layer._feedforward_layer_norm,
            )
        if has_layer(model, "pooler"):
            pairs.append((get("pooler").weights, backbone.pooled_dense.weights))
        return pairs
    embed = backbone.get_layer("vit_patching_and_embedding")
    encoder = backbone.get_layer("vit_encoder")
    pairs = [
        (get("patch_embedding").weights, embed.patch_embedding.weights),
        (get("class_token").weights, [embed.class_token]),
        (get("position_embedding").weights, embed.position_embedding.weights),
    ]
    for i, block in enumerate(encoder.encoder_layers):
        pairs += _block_pairs(
            get(f"block_{i}"),
            block.mha,
            block.layer_norm_1,
            block.mlp.dense_1,
            block.mlp.dense_2,
            block.layer_norm_2,
        )
    pairs.append((get("final_norm").weights, encoder.layer_norm.weights))
    return pairs


def has_layer(model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def adapt_position_embedding(table, grid_from: tuple[int, int], grid_to: tuple[int, int]):
    """ViT position embeddings (1 + gh*gw, D) of one grid -> another: the class token's row
    is kept, the patch rows are resized bicubically as a (gh, gw, D) image (ViT, timm)."""
    import numpy as np
    import tensorflow as tf

    if grid_from == grid_to:
        return table
    cls, patches = table[:1], table[1:].reshape(*grid_from, -1)
    resized = tf.image.resize(patches[None], grid_to, method="bicubic")[0].numpy()
    return np.concatenate([cls, resized.reshape(-1, table.shape[-1])]).astype(table.dtype)


def _adapt(name: str, value, shape, grid_from, grid_to, handle: str):
    """A KerasHub weight made to fit the zoo variable of ``shape``, or a clear error."""
    import numpy as np

    if tuple(value.shape) == tuple(shape):
        return value
    if name.endswith("position_embedding") and grid_from is not None:
        return adapt_position_embedding(value, grid_from, grid_to)
    if name.endswith("patch_embedding") and value.ndim == 4 and shape[2] == 1:
        # A grey image is an RGB one with equal channels: summing the kernel over its input
        # channels gives the same response (timm's adapt_input_conv does the same).
        return np.sum(value, axis=2, keepdims=True)
    if name.endswith("patch_embedding") and value.ndim == 4:
        raise ZooError(
            f"--init-from {handle}: the preset reads {value.shape[2]}-channel images and this "
            f"dataset has {shape[2]} channels; presets load for RGB or grey images"
        )
    raise ZooError(
        f"--init-from {handle}: weight {name} is {tuple(value.shape)} in the preset but "
        f"{tuple(shape)} here; use the preset's vocabulary and settings"
    )


def load_weights(model, preset: Preset, console=None) -> int:
    """Copy every backbone weight of ``preset`` into the zoo ``model`` (built with
    ``model_settings``); -> the number of variables set. The classifier head stays fresh."""
    keras_hub = import_keras_hub()
    cls = {"bert": "BertBackbone", "vit": "ViTBackbone"}[preset.family]
    try:
        backbone = getattr(keras_hub.models, cls).from_preset(preset.handle)
    except Exception as e:  # noqa: BLE001 (any failure of keras_hub: one line)
        raise _hub_error(preset.handle, e) from None
    grid_from = grid_to = None
    if preset.family == "vit":
        patch = _pair(preset.backbone["patch_size"])[0]
        shape = preset.backbone["image_shape"]
        grid_from = (shape[0] // patch, shape[1] // patch)
        h, w = model.input_shape[1:3]
        grid_to = (h // patch, w // patch)
        if grid_from != grid_to and console is not None:
            console.print(
                f"note: position embeddings resized bicubically from the preset's {grid_from[0]}x"
                f"{grid_from[1]} patch grid ({shape[0]}x{shape[1]} images) to {grid_to[0]}x"
                f"{grid_to[1]} ({h}x{w}); --image-size {shape[0]} keeps the preset's"
            )
    count = 0
    for zoo_vars, hub_vars in variable_pairs(model, backbone, preset.family):
        if len(zoo_vars) != len(hub_vars):
            raise ZooError(
                f"--init-from {preset.handle}: {zoo_vars[0].path} has {len(zoo_vars)} weights "
                f"and the preset's {hub_vars[0].path} {len(hub_vars)}"
            )
        for z, h in zip(zoo_vars, hub_vars):
            value = _adapt(
                z.path.split("/")[0], h.numpy(), z.shape, grid_from, grid_to, preset.handle
            )
            z.assign(value)
            count += 1
    return count


# ---------------------------------------------------------------------------------------------
# Outputs under KerasHub's names (the export, zoo/export/keras_hub.py, and the tests compare them)
# ---------------------------------------------------------------------------------------------


def backbone_outputs(model, family: str):
    """The zoo model's backbone outputs under KerasHub's names: BERT ``sequence_output`` and
    ``pooled_output`` (the pooler, when the model has one); ViT the final-norm sequence."""
    import keras

    if family == "bert":
        blocks = [layer for layer in model.layers if layer.name.startswith("block_")]
        outputs = {"sequence_output": blocks[-1].output}
        if has_layer(model, "pooler"):
            outputs["pooled_output"] = model.get_layer("pooler").output
    else:
        outputs = {"sequence_output": model.get_layer("final_norm").output}
    inputs = model.inputs[0] if family == "vit" else model.get_layer("padding_mask").input
    return keras.Model(inputs, outputs, name=f"{family}_backbone_outputs")


def hub_inputs(tokens, sep_id: int):
    """KerasHub BERT inputs for the zoo's one tensor of ids: the segment ids the zoo model
    derives (its own ``SegmentIds`` layer) and the padding mask."""
    import keras
    import numpy as np

    from zoo.models.bert import SegmentIds

    tokens = np.asarray(tokens, "int32")
    segments = keras.ops.convert_to_numpy(SegmentIds(sep_id)(tokens))
    return {"token_ids": tokens, "segment_ids": segments, "padding_mask": tokens != 0}
