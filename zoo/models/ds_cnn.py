"""DS-CNN for keyword spotting (Zhang et al. 2017, "Hello Edge"): a strided conv over the
log-mel spectrogram, then depthwise-separable blocks, average pooling and the classifier: the
compact model of the on-device audio path (int8 TFLite)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from zoo.config import ranged
from zoo.models.layers import classifier_head, image_input
from zoo.models.registry import register_model


@dataclass(frozen=True)
class DSCNNConfig:
    filters: int = ranged(64, 1, 4096)  # channels of every layer (S: 64, M: 172, L: 276)
    blocks: int = ranged(4, 1, 32)  # depthwise-separable blocks (S, M: 4; L: 5)
    first_kernel: tuple[int, ...] = ranged((10, 4), 1, 64)  # (frames, mel bins)
    first_stride: tuple[int, ...] = ranged((2, 2), 1, 16)
    dropout: float = ranged(0.2, 0.0, 1.0, high_in=False)  # before the classifier


def _conv_bn_relu(x, layer, name: str):
    x = layer(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build_ds_cnn(info, config: DSCNNConfig) -> keras.Model:
    inputs, x = image_input(info)
    first = layers.Conv2D(
        config.filters,
        tuple(config.first_kernel),
        strides=tuple(config.first_stride),
        padding="same",
        use_bias=False,
        name="conv_0",
    )
    x = _conv_bn_relu(x, first, "conv_0")
    for i in range(1, config.blocks + 1):
        depthwise = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw_{i}")
        x = _conv_bn_relu(x, depthwise, f"dw_{i}")
        pointwise = layers.Conv2D(config.filters, 1, use_bias=False, name=f"pw_{i}")
        x = _conv_bn_relu(x, pointwise, f"pw_{i}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, classifier_head(x, info.num_classes, config.dropout), name="ds_cnn")


# Adam as in the paper, with a cosine decay, label smoothing and random time shifts; keyword
# clips are short, so more epochs than the image recipes.
RECIPE = dict(
    optimizer="adam",
    learning_rate=3e-3,
    schedule="cosine",
    warmup_epochs=1,
    batch_size=64,
    label_smoothing=0.1,
    augment="shift",
    epochs=30,
)

# `zoo tune`'s default space, around the recipe above.
SPACE = {
    "learning_rate": "log:1e-3..1e-2",
    "label_smoothing": "0.0..0.2",
    "model.dropout": "0.0..0.5",
    "batch_size": "32,64,128",
}


@register_model(
    family="ds_cnn",
    modality="audio",
    builder=build_ds_cnn,
    recipe=RECIPE,
    space=SPACE,
    default=True,
)
def ds_cnn() -> DSCNNConfig:
    """DS-CNN-S of "Hello Edge" (Zhang et al. 2017): conv 10x4/2 then 4 depthwise-separable blocks of 64."""
    return DSCNNConfig()
