"""Multi-layer perceptron on flattened images (the classic first model)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from zoo.config import ranged
from zoo.models.layers import classifier_head
from zoo.models.registry import register_model


@dataclass(frozen=True)
class MLPConfig:
    hidden_units: tuple[int, ...] = ranged((128,), 1, 1 << 16)  # one Dense layer per entry
    activation: str = "relu"
    dropout: float = ranged(0.0, 0.0, 1.0, high_in=False)  # after each hidden layer
    batch_norm: bool = False  # between each hidden Dense and its activation


def build_mlp(info, config: MLPConfig) -> keras.Model:
    inputs = keras.Input(info.input_shape, name="inputs")
    x = layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(config.hidden_units):
        x = layers.Dense(units, use_bias=not config.batch_norm, name=f"dense_{i}")(x)
        if config.batch_norm:
            x = layers.BatchNormalization(name=f"bn_{i}")(x)
        x = layers.Activation(config.activation, name=f"act_{i}")(x)
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    return keras.Model(inputs, classifier_head(x, info.num_classes), name="mlp")


# Adam with a cosine decay and label smoothing: 88.2% -> see README for fashion_mnist numbers.
RECIPE = dict(
    optimizer="adam",
    learning_rate=1e-3,
    schedule="cosine",
    batch_size=64,
    label_smoothing=0.1,
    epochs=10,
    steps_per_execution=16,  # tiny steps: dispatch-bound, as the cnn (zoo/models/cnn.py)
)

# `zoo tune`'s default space (zoo/tune/space.py has the syntax): around the recipe above.
SPACE = {
    "learning_rate": "log:1e-4..1e-2",
    "weight_decay": "0.0..0.01",
    "label_smoothing": "0.0..0.2",
    "model.dropout": "0.0..0.5",
    "batch_size": "32,64,128",
}


@register_model(
    family="mlp", modality="image", builder=build_mlp, recipe=RECIPE, space=SPACE, default=True
)
def mlp() -> MLPConfig:
    """Flatten -> Dense 128 relu -> Dense classes: the seed's multi-layer perceptron."""
    return MLPConfig()
