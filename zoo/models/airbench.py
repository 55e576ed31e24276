"""airbench94 (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", arXiv 2404.00498;
github.com/KellerJordan/cifar10-airbench), re-expressed in Keras 3.

The network: a frozen 2x2 patch-whitening convolution fitted to the training images (24
channels: the 12 eigenvectors of the patches' second moments scaled by 1/sqrt(eigenvalue + 5e-4),
and their negatives; its bias trains for the first 3 epochs), GELU, then three blocks of
conv3x3 - maxpool2 - batchnorm - GELU - conv3x3 - batchnorm - GELU at widths 64, 256, 256, a
3x3 max pool, a bias-free linear layer and a 1/9 scaling of the logits. Batch norms have no
scale (only a bias), momentum 0.6 in torch's convention (0.4 in Keras's) and eps 1e-12; each
3x3 convolution starts as torch's default uniform init with its first in-channels filters set
to the identity (torch's ``dirac_``). At inference the logits of 6 views are averaged
(``TestTimeAugmentation``: the image and its mirror at weight 1/4 each, the two one-pixel
diagonal translations and their mirrors at 1/8 each, the paper's ``tta_level=2``).

How the pieces map onto the zoo (each measured by an ablation row in docs/airbench.md):
- the whitening init from data: ``PatchWhitening.adapt`` on 5,000 training images, called by
  the engine through the spec's ``init_from_data`` before training (the same hook adapts the
  input normalization, the CIFAR mean and std in the paper);
- per-parameter-group learning rates and the bias scaling: the ``sgd_l2`` optimizer
  (``training.optimizers.GroupSGD``) with the spec's ``param_groups``: batch-norm biases get 64x
  the gradient (= torch's 64x learning rate and 1/64 weight decay for that group); the
  whitening bias stops after 3 epochs;
- the summed loss of the paper with lr 11.5 / 7850.7 = 0.0014648 and torch weight decay wd / lr
  (wd = 0.0153 x 1024 / 7850.7 = 0.001996: each step shrinks the weights by 0.001996 x the
  schedule, through the momentum) becomes Keras's mean loss with lr 1.5 and L2 0.0013307 (the
  same update);
- lookahead: the ``lookahead`` callback every 5 steps; alternating flip and 2-pixel reflected
  translation: ``--augment altflip_translate``; the triangular schedule: ``--schedule linear
  --warmup-from 0.2`` over the first 20% of steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from zoo.config import ranged
from zoo.errors import ZooError
from zoo.models.layers import TTA_VIEWS, TestTimeAugmentation, image_input
from zoo.models.registry import register_model


@dataclass(frozen=True)
class AirbenchConfig:
    widths: tuple[int, ...] = ranged((64, 256, 256), 1, 1 << 14)  # one conv group each
    whiten_width: int = ranged(2, 1, 8)  # the whitening convolution's patch size
    whiten_eps: float = ranged(5e-4, 0.0, 1.0, low_in=False)
    batchnorm_momentum: float = ranged(0.6, 0.0, 1.0)  # torch's convention: weight of the batch
    scaling_factor: float = ranged(1 / 9, 0.0, 100.0, low_in=False)  # on the logits
    tta: str = "mirror_translate"  # none | mirror | mirror_translate
    whiten_init: str = "data"  # data (the paper) | random (ablation: a random frozen kernel)
    bias_scaler: float = ranged(64.0, 0.0, 1e6, low_in=False)  # batch-norm biases' lr factor


@keras.saving.register_keras_serializable(package="zoo")
class PartialIdentity(keras.initializers.Initializer):
    """torch's default conv init (uniform in +-1/sqrt(fan_in)) with the first in-channels
    filters set to the identity (``torch.nn.init.dirac_``), as airbench starts its convs."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        kh, kw, cin, cout = shape
        bound = 1 / math.sqrt(kh * kw * cin)
        w = keras.random.uniform(shape, -bound, bound, dtype=dtype, seed=self.seed)
        n = min(cin, cout)
        eye = np.zeros(shape, "float32")
        eye[kh // 2, kw // 2, np.arange(n), np.arange(n)] = 1.0
        mask = np.ones(shape, "float32")
        mask[:, :, :, :n] = 0.0
        return w * keras.ops.convert_to_tensor(mask, w.dtype) + keras.ops.convert_to_tensor(
            eye, w.dtype
        )

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class ChannelStandardize(layers.Layer):
    """(x - mean) / std per channel, both fitted by ``adapt(images)`` and stored as frozen
    weights. Keras's ``Normalization`` keeps its adapted statistics as captured constants, which
    the ONNX converter cannot feed."""

    def build(self, input_shape):
        shape = (input_shape[-1],)
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
        self.std = self.add_weight(name="std", shape=shape, initializer="ones", trainable=False)

    def call(self, x):
        return (x - keras.ops.cast(self.mean, x.dtype)) / keras.ops.cast(self.std, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def adapt(self, images) -> None:
        flat = np.asarray(images, np.float64).reshape(-1, images.shape[-1])
        self.mean.assign(flat.mean(0).astype("float32"))
        self.std.assign(flat.std(0).astype("float32") + 1e-7)


@keras.saving.register_keras_serializable(package="zoo")
class PatchWhitening(layers.Layer):
    """A ``size`` x ``size`` 'valid' convolution whose frozen kernel whitens the input's patches:
    ``adapt(images)`` sets it to the eigenvectors of the patches' second-moment matrix scaled by
    1/sqrt(eigenvalue + eps), with their negatives (2 x size^2 x channels filters). The bias
    is trainable."""

    def __init__(self, size: int = 2, eps: float = 5e-4, init: str = "zeros", **kwargs):
        super().__init__(**kwargs)
        self.size, self.eps, self.init = size, eps, init

    def build(self, input_shape):
        dim = self.size * self.size * input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(self.size, self.size, input_shape[-1], 2 * dim),
            initializer=self.init, trainable=False,
        )  # fmt: skip
        self.bias = self.add_weight(name="bias", shape=(2 * dim,), initializer="zeros")

    def call(self, x):
        y = keras.ops.conv(x, keras.ops.cast(self.kernel, x.dtype), padding="valid")
        return y + keras.ops.cast(self.bias, x.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        less = lambda d: None if d is None else d - self.size + 1
        return (b, less(h), less(w), self.kernel.shape[-1] if self.built else None)

    def patches(self, images) -> np.ndarray:
        """(n, size*size*channels) float64 patches of float images, in the kernel's order."""
        import tensorflow as tf

        p = tf.image.extract_patches(
            tf.convert_to_tensor(images, tf.float32),
            sizes=[1, self.size, self.size, 1],
            strides=[1, 1, 1, 1],
            rates=[1, 1, 1, 1],
            padding="VALID",
        )
        return p.numpy().reshape(-1, p.shape[-1]).astype(np.float64)

    def adapt(self, images, chunk: int = 500) -> None:
        if not self.built:
            self.build(images.shape)
        dim = self.kernel.shape[-1] // 2
        moment, count = np.zeros((dim, dim)), 0
        for i in range(0, len(images), chunk):
            p = self.patches(images[i : i + chunk])
            moment += p.T @ p
            count += len(p)
        values, vectors = np.linalg.eigh(moment / max(1, count))
        order = np.argsort(values)[::-1]  # largest first, as the paper orders them
        scaled = vectors[:, order] / np.sqrt(values[order] + self.eps)
        kernel = np.concatenate([scaled, -scaled], axis=1)
        self.kernel.assign(kernel.reshape(self.kernel.shape).astype("float32"))

    def get_config(self):
        return {**super().get_config(), "size": self.size, "eps": self.eps, "init": self.init}


def _conv_group(x, width: int, momentum: float, name: str):
    def norm(x, i):
        return layers.BatchNormalization(
            momentum=1 - momentum, epsilon=1e-12, scale=False, name=f"{name}_bn{i}"
        )(x)

    x = layers.Conv2D(width, 3, padding="same", use_bias=False,
                      kernel_initializer=PartialIdentity(), name=f"{name}_conv1")(x)  # fmt: skip
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = layers.Activation("gelu", name=f"{name}_act1")(norm(x, 1))
    x = layers.Conv2D(width, 3, padding="same", use_bias=False,
                      kernel_initializer=PartialIdentity(), name=f"{name}_conv2")(x)  # fmt: skip
    return layers.Activation("gelu", name=f"{name}_act2")(norm(x, 2))


def build_airbench(info, config: AirbenchConfig) -> keras.Model:
    if config.whiten_init not in ("data", "random"):
        raise ZooError(f"model.whiten_init must be data or random, not {config.whiten_init!r}")
    if config.tta not in TTA_VIEWS:
        raise ZooError(f"model.tta must be one of {', '.join(TTA_VIEWS)}, not {config.tta!r}")
    inputs, x = image_input(info)
    x = ChannelStandardize(name="normalize")(x)  # adapted with the whitening
    init = "zeros" if config.whiten_init == "data" else "he_uniform"  # zeros: adapted before use
    x = PatchWhitening(config.whiten_width, config.whiten_eps, init, name="whiten")(x)
    x = layers.Activation("gelu", name="whiten_act")(x)
    for i, width in enumerate(config.widths):
        x = _conv_group(x, width, config.batchnorm_momentum, f"block{i + 1}")
    x = layers.GlobalMaxPooling2D(name="pool")(x)  # the paper's MaxPool(3) on the 3x3 map
    bound = 1 / math.sqrt(config.widths[-1])
    x = layers.Dense(info.num_classes, use_bias=False, name="head", kernel_initializer=(
        keras.initializers.RandomUniform(-bound, bound)))(x)  # fmt: skip
    x = layers.Rescaling(config.scaling_factor, dtype="float32", name="logits")(x)
    body = keras.Model(inputs, x, name="airbench")
    if config.tta == "none":
        return body
    outer = keras.Input(info.input_shape, name="images")
    return keras.Model(outer, TestTimeAugmentation(body, config.tta, name="tta")(outer),
                       name="airbench_tta")  # fmt: skip


def body_of(model) -> keras.Model:
    """The network inside the test-time augmentation wrapper (or the model itself)."""
    for layer in model.layers:
        if isinstance(layer, TestTimeAugmentation):
            return layer.body
    return model


def init_from_data(model, images: np.ndarray) -> None:
    """The input normalization and (unless ``whiten_init=random``) the whitening kernel from
    training images in [0, 1]."""
    body = body_of(model)
    norm = body.get_layer("normalize")
    norm.adapt(images)
    whiten = body.get_layer("whiten")
    if whiten.init == "zeros":
        whiten.adapt(np.asarray(norm(images)))


def param_groups(config: AirbenchConfig) -> dict:
    """The paper's parameter groups for ``sgd_l2``: batch-norm biases at ``bias_scaler`` x (torch:
    lr x 64, wd / 64), the whitening bias trained for 3 epochs (regexes over variable paths)."""
    return {r"_bn\d/beta$": (config.bias_scaler, None), r"whiten/bias$": (1.0, 3)}


RECIPE = dict(
    optimizer="sgd_l2",
    learning_rate=1.5,  # 11.5 / 7850.7 per summed example of a 1024 batch, as a mean loss
    momentum=0.85,
    # torch's weight_decay there is wd / lr, so each step decays by 0.0153 * 1024 / 7850.7 =
    # 0.001996 of the weights (times the schedule): L2 = 0.001996 / 1.5 at lr 1.5
    weight_decay=0.0013307,
    schedule="linear",
    warmup_epochs=2.0,  # 20% of 10 epochs: from 0.2 x the peak, then down to 0 at the end
    warmup_from=0.2,
    lookahead=5,
    label_smoothing=0.2,
    batch_size=1024,
    epochs=10,  # the paper's 9.9, rounded up (the zoo counts whole epochs)
    augment="altflip_translate",
    val_fraction=0.02,  # 49,000 to train, 1,000 to watch (the paper trains on all 50,000)
    keep="last",
)


@register_model(
    family="airbench",
    modality="image",
    builder=build_airbench,
    recipe=RECIPE,
    default=True,
    init_from_data=init_from_data,
    param_groups=param_groups,
)
def airbench94() -> AirbenchConfig:
    """airbench94 (Jordan 2024): data-fitted whitening conv, 3 conv groups (64-256-256), TTA; about 1.97M parameters."""
    return AirbenchConfig()
