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


TTA_VIEWS = ("none", "mirror", "mirror_translate")


@keras.saving.register_keras_serializable(package="zoo")
class TestTimeAugmentation(layers.Layer):
    """Test-time augmentation around an image model ``body``: training calls it plainly; at
    inference the logits of several views of each image are averaged, in one batched call.
    ``mirror``: the image and its left-right mirror, 1/2 each. ``mirror_translate`` (airbench's
    level 2): those at 1/4 each, plus the image shifted one pixel up-left and one down-right
    (reflected borders) and their mirrors at 1/8 each. Inside the model, so evaluation, every
    export and `zoo predict` see the accuracy the run reports."""

    def __init__(self, body, views: str = "mirror", **kwargs):
        super().__init__(**kwargs)
        if views not in TTA_VIEWS:
            raise ValueError(f"views must be one of {TTA_VIEWS}, got {views!r}")
        self.body, self.views = body, views

    def build(self, input_shape):
        self.body.build(input_shape)

    def call(self, x, training=None):
        if training or self.views == "none":
            return self.body(x, training=training)
        ops = keras.ops
        mirror = lambda t: ops.flip(t, axis=2)
        views, weights = [x, mirror(x)], [0.5, 0.5]
        if self.views == "mirror_translate":
            h, w = keras.ops.shape(x)[1], keras.ops.shape(x)[2]  # dynamic in serving graphs
            padded = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
            shifted = [padded[:, :h, :w, :], padded[:, 2 : h + 2, 2 : w + 2, :]]
            views += [*shifted, *map(mirror, shifted)]
            weights = [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
        n = ops.shape(x)[0]
        logits = self.body(ops.concatenate(views, axis=0), training=False)
        logits = ops.reshape(logits, (len(views), n, logits.shape[-1]))
        w = ops.convert_to_tensor(weights, logits.dtype)
        return ops.sum(logits * w[:, None, None], axis=0)

    def compute_output_shape(self, input_shape):
        return self.body.compute_output_shape(input_shape)

    def get_config(self):
        body = keras.saving.serialize_keras_object(self.body)
        return {**super().get_config(), "body": body, "views": self.views}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        body = keras.saving.deserialize_keras_object(config.pop("body"))
        return cls(body, **config)
