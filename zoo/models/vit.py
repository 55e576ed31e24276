"""Vision Transformers (Dosovitskiy et al. 2020): non-overlapping patches -> linear embedding,
a learned class token and position embeddings, pre-norm Transformer blocks with stochastic
depth, the class token's final state -> classifier.

Works on any image size and channel count the dataset (or ``--image-size``) gives. The patch
size defaults to ``auto``: 16 for images of 224 pixels and more (the paper), else the divisor of
the patch giving the grid nearest to 8x8 below that (4 for 32x32 CIFAR and for 28x28
MNIST-like images); pixels past the last whole patch are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from zoo.config import ranged
from zoo.models.layers import classifier_head
from zoo.models.registry import register_model
from zoo.models.transformer import PositionEmbedding, encoder


@keras.saving.register_keras_serializable(package="zoo")
class ClassToken(layers.Layer):
    """Prepends one learned token to a (batch, patches, dim) sequence."""

    def build(self, input_shape):
        self.token = self.add_weight(
            name="token", shape=(1, 1, input_shape[-1]), initializer="zeros"
        )

    def call(self, x):
        token = ops.broadcast_to(
            ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, ops.shape(x)[2])
        )
        return ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape):
        b, n, d = input_shape
        return (b, None if n is None else n + 1, d)


@dataclass(frozen=True)
class ViTConfig:
    hidden_size: int = ranged(192, 1, 1 << 14)  # D
    num_layers: int = ranged(12, 1, 256)  # L
    num_heads: int = ranged(3, 1, 256)
    mlp_dim: int = ranged(768, 1, 1 << 16)  # 4D
    patch_size: int | str = "auto"  # pixels per patch side; auto: from the image size
    dropout: float = ranged(0.0, 0.0, 1.0, high_in=False)
    attention_dropout: float = ranged(0.0, 0.0, 1.0, high_in=False)
    drop_path: float = ranged(0.1, 0.0, 1.0, high_in=False)  # stochastic depth, last block
    representation_size: int = ranged(0, 0, 1 << 14)  # pre-logits tanh layer; 0: none
    layer_norm_epsilon: float = ranged(1e-6, 0.0, 1.0, low_in=False)


def auto_patch_size(image_size: int) -> int:
    """16 from 224 pixels up (the paper); below, the patch giving the grid nearest to 8x8,
    whole patches preferred (32 -> 4, 28 -> 4, 64 -> 8, 96 -> 12)."""
    if image_size >= 224:
        return 16
    return min(
        range(1, image_size + 1),
        key=lambda p: (abs(image_size // p - 8), image_size % p != 0, p),
    )


def patch_size_for(config: ViTConfig, image_size: int) -> int:
    from zoo.errors import ZooError

    if config.patch_size == "auto":
        return auto_patch_size(image_size)
    if not isinstance(config.patch_size, int) or config.patch_size < 1:
        raise ZooError(
            f"patch_size must be 'auto' or a positive integer, got {config.patch_size!r}"
        )
    if config.patch_size > image_size:
        raise ZooError(
            f"patch_size {config.patch_size} is larger than the {image_size}-pixel images; "
            "pick a smaller --set model.patch_size"
        )
    return config.patch_size


def build_vit(info, config: ViTConfig) -> keras.Model:
    h, w, _ = info.input_shape
    patch = patch_size_for(config, min(h, w))
    grid = (h // patch) * (w // patch)
    images = keras.Input(info.input_shape, name="images")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_unit_range")(images)  # [0,1] -> [-1,1]
    x = layers.Conv2D(config.hidden_size, patch, strides=patch, name="patch_embedding")(x)
    x = layers.Reshape((grid, config.hidden_size), name="patches")(x)
    x = ClassToken(name="class_token")(x)
    x = PositionEmbedding(
        grid + 1, keras.initializers.RandomNormal(stddev=0.02), name="position_embedding"
    )(x)
    x = layers.Dropout(config.dropout, name="embedding_dropout")(x)
    x = encoder(
        x,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        mlp_dim=config.mlp_dim,
        dropout=config.dropout,
        attention_dropout=config.attention_dropout,
        activation="gelu",
        norm_first=True,
        epsilon=config.layer_norm_epsilon,
        drop_path=config.drop_path,
    )
    x = layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="final_norm")(x)
    x = x[:, 0]
    if config.representation_size:
        x = layers.Dense(config.representation_size, "tanh", name="pre_logits")(x)
    logits = classifier_head(x, info.num_classes)
    return keras.Model(images, logits, name="vit")


# DeiT-style recipe for training from scratch (Touvron et al. 2021), scaled to small datasets.
RECIPE = dict(
    optimizer="adamw",
    learning_rate=1e-3,
    weight_decay=0.05,
    schedule="cosine",
    warmup_epochs=1.0,
    label_smoothing=0.1,
    augment="flip_crop",
    batch_size=128,
    epochs=30,
)

# `zoo tune`'s default space (AdamW, DeiT-style), around the recipe above.
SPACE = {
    "learning_rate": "log:1e-4..3e-3",
    "weight_decay": "0.0..0.1",
    "label_smoothing": "0.0..0.2",
    "model.dropout": "0.0..0.3",
}


def _variant(fn):
    return register_model(
        family="vit",
        modality="image",
        builder=build_vit,
        recipe=RECIPE,
        space=SPACE,
        default=fn.__name__ == "vit_tiny",
    )(fn)


@_variant
def vit_tiny() -> ViTConfig:
    """ViT-Ti: D=192, L=12, 3 heads (DeiT-Ti)."""
    return ViTConfig(hidden_size=192, num_layers=12, num_heads=3, mlp_dim=768)


@_variant
def vit_small() -> ViTConfig:
    """ViT-S: D=384, L=12, 6 heads."""
    return ViTConfig(hidden_size=384, num_layers=12, num_heads=6, mlp_dim=1536)


@_variant
def vit_base() -> ViTConfig:
    """ViT-B: D=768, L=12, 12 heads, about 86M parameters at 224x224 with patch 16."""
    return ViTConfig(hidden_size=768, num_layers=12, num_heads=12, mlp_dim=3072)
