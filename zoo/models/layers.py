"""Pieces shared by several families: the classification head and small custom layers."""

from __future__ import annotations

import keras
from keras import layers


def image_input(info):
    """-> (model input, the image the layers after it read). Audio waveforms become a
    one-channel log-mel image (frames x mel bins) through the audio front end."""
    if info.modality == "audio":
        from zoo.models.audio import spectrogram

        waveforms = keras.Input(info.input_shape, name="waveforms")
        return waveforms, spectrogram(waveforms, info, image=True)
    inputs = keras.Input(info.input_shape, name="inputs")
    return inputs, inputs


def classifier_head(x, num_classes: int, dropout: float = 0.0, name: str = "logits"):
    """Optional dropout, then a Dense layer giving float32 logits (safe under mixed precision)."""
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.Dense(num_classes, dtype="float32", name=name)(x)


@keras.saving.register_keras_serializable(package="zoo")
class ZeroPadShortcut(layers.Layer):
    """The parameter-free 'option A' shortcut of CIFAR ResNets (He et al. 2016): subsample by
    ``stride`` and zero-pad the channels up to ``filters``."""

    def __init__(self, filters: int, stride: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.stride = stride

    def call(self, x):
        x = x[:, :: self.stride, :: self.stride, :]
        extra = self.filters - x.shape[-1]
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        down = lambda d: None if d is None else (d + self.stride - 1) // self.stride
        return (b, down(h), down(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}
