"""airbench94 and the engine pieces it brought: the architecture's parameter count, the frozen
whitening layer that whitens, test-time augmentation, the parameter-group optimizer, the
triangular schedule, alternating flips, lookahead; a smoke train, export and reload."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import smoke_args, zoo, zoo_json

from zoo.data.datasets import reference_info
from zoo.data.preprocess import alternating_flip
from zoo.models import airbench, registry
from zoo.models.layers import TestTimeAugmentation as TTALayer
from zoo.training import optimizers

# airbench94.py's network, counted from its layer shapes: the six 3x3 convs (24-64, 64-64,
# 64-256, 256-256, 256-256, 256-256: 1,967,616), the batch-norm biases (1,152), the whitening
# bias (24) and the 256x10 head (2,560). The paper's model also holds the frozen whitening
# kernel (288) and the batch norms' fixed weights (1,152): 1,972,792 in all.
TRAINABLE = 1_971_352
PAPER_TOTAL = 1_972_792


def _model(**overrides):
    registry.load_families()
    return registry.create_model("airbench94", reference_info("image"), overrides)


def test_parameters_equal_the_papers_model():
    model = _model()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == TRAINABLE
    whiten = airbench.body_of(model).get_layer("whiten")
    assert trainable + int(np.prod(whiten.kernel.shape)) + 1152 == PAPER_TOTAL
    assert model.output_shape == (None, 10)


def test_the_whitening_layer_is_frozen_and_whitens():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(64, 32, 32, 1))
    mix = np.array([[1.0, 0.8, 0.3]])
    images = (base @ mix + 0.2 * rng.normal(size=(64, 32, 32, 3))).astype("float32")
    layer = airbench.PatchWhitening(2, eps=1e-6)
    layer.adapt(images)
    assert not layer.kernel.trainable and layer.kernel in layer.non_trainable_weights
    assert layer.bias.trainable
    out = np.asarray(layer(images)).reshape(-1, 24)[:, :12]  # the other 12: their negatives
    moment = out.T @ out / len(out)
    assert np.abs(moment - np.eye(12)).max() < 0.02
    raw = layer.patches(images)
    assert np.abs(raw.T @ raw / len(raw) - np.eye(12)).max() > 0.5  # it had something to do


def test_training_fits_the_whitening_to_the_training_images(mock_tfds, workdir):
    zoo(*smoke_args("airbench94", "cifar10", "a", "--batch-size", "8",
                    "--set", "model.widths=[8,16,16]"))  # fmt: skip
    model = keras.saving.load_model("runs/a/model.keras")
    kernel = airbench.body_of(model).get_layer("whiten").kernel.numpy()
    assert np.abs(kernel).max() > 0  # adapted (built with zeros)
    for fmt in ("savedmodel", "onnx", "tflite"):
        extra = () if fmt == "savedmodel" else ("--format", fmt)
        out = zoo_json("export", "runs/a", *extra, "--verify")
        assert Path(out["export_dir"]).exists()
    metrics = json.loads(Path("runs/a/metrics.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1


def test_test_time_augmentation_averages_the_views():
    model = _model(widths=(8, 8, 8))
    images = np.random.default_rng(1).random((3, 32, 32, 3)).astype("float32")
    tta = [layer for layer in model.layers if isinstance(layer, TTALayer)][0]
    body = tta.body
    flip = images[:, :, ::-1]
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    up, down = padded[:, :32, :32], padded[:, 2:, 2:]
    views = [images, flip, up, down, up[:, :, ::-1], down[:, :, ::-1]]
    weights = [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
    expected = sum(w * np.asarray(body(v, training=False)) for w, v in zip(weights, views))
    np.testing.assert_allclose(np.asarray(model(images, training=False)), expected, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(model(images, training=True)), np.asarray(body(images, training=True)),
        atol=1e-5,
    )  # fmt: skip
    plain = _model(widths=(8, 8, 8), tta="none")
    assert not any(isinstance(layer, TTALayer) for layer in plain.layers)


def test_group_sgd_is_torchs_param_group():
    """Multiplier m with L2 wd equals torch's group (lr x m, wd / m): Keras SGD on m*g + wd*w;
    a frozen variable gets no gradient from its step on."""
    w0 = np.array([1.0, -2.0], "float32")
    g = np.array([0.5, 0.25], "float32")
    group = keras.Variable(w0, name="bn1_beta_like")
    opt = optimizers.GroupSGD(0.1, momentum=0.85, l2=0.01, groups={"beta_like": (64.0, None)})
    ref = keras.Variable(w0)
    ref_opt = keras.optimizers.SGD(0.1, momentum=0.85, nesterov=True)
    for _ in range(3):
        opt.apply([tf.constant(g)], [group])
        ref_opt.apply([tf.constant(64 * g) + 0.01 * ref.value], [ref])
    np.testing.assert_allclose(group.numpy(), ref.numpy(), rtol=1e-6)

    frozen = keras.Variable(w0, name="whiten_bias_like")
    opt2 = optimizers.GroupSGD(0.1, momentum=0.0, l2=0.0, groups={"whiten": (1.0, 2)})
    for _ in range(4):
        opt2.apply([tf.constant(g)], [frozen])
    np.testing.assert_allclose(frozen.numpy(), w0 - 2 * 0.1 * g, rtol=1e-6)  # 2 steps, then none


def test_the_linear_schedule_is_airbenchs_triangle():
    lr = optimizers.Linear(1.5, total=100, warmup=20, start=0.2)
    assert float(lr(0)) == pytest.approx(0.3)
    assert float(lr(20)) == pytest.approx(1.5)
    assert float(lr(60)) == pytest.approx(0.75)
    assert float(lr(100)) == pytest.approx(0.0)
    assert float(lr(10)) == pytest.approx(0.9)


def test_alternating_flips_show_each_image_both_ways():
    images = tf.constant(np.arange(8 * 2 * 3).reshape(8, 1, 2 * 3, 1) % 256, tf.uint8)
    images = tf.reshape(images, (8, 1, 6, 1))
    index = tf.range(8, dtype=tf.int64)
    even = [alternating_flip(images, index, 0, e).numpy() for e in (0, 2)]
    odd = alternating_flip(images, index, 0, 1).numpy()
    np.testing.assert_array_equal(even[0], even[1])  # the same coin every even epoch
    flipped_even = (even[0] != images.numpy()).any(axis=(1, 2, 3))
    flipped_odd = (odd != images.numpy()).any(axis=(1, 2, 3))
    assert (flipped_even ^ flipped_odd).all()  # every image the other way in odd epochs
    assert 0 < flipped_even.sum() < 8
    coins = [(alternating_flip(images, index, s, 0).numpy() != images.numpy()).any(axis=(1, 2, 3))
             for s in range(6)]  # fmt: skip
    assert len({tuple(c) for c in coins}) > 1  # the run's seed picks the coins


def test_lookahead_pulls_the_weights_back_to_their_average():
    """At a sync the weights (norm statistics too) become d * average + (1 - d) * weights with
    airbench's d = 0.95**k * (t / T)**3; syncs happen every k steps and at each epoch's end,
    so nothing of it lives outside the model at a checkpoint."""
    from zoo.runs.callbacks import Lookahead

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
                              keras.layers.BatchNormalization()])  # fmt: skip
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.build(model.trainable_variables)
    cb = Lookahead(every=5)
    cb.set_model(model)
    cb.set_params({"epochs": 2, "steps": 10})
    cb.on_train_begin()
    start = [w.numpy().copy() for w in model.weights]
    assert len(cb.weights) == len(model.weights)  # kernel, bias, gamma, beta, moving stats
    for w in model.weights:
        w.assign(w.value + 1.0)
    model.optimizer.iterations.assign(10)
    cb.on_epoch_end(0)
    d = 0.95**5 * (10 / 20) ** 3
    for w, s0 in zip(model.weights, start):
        np.testing.assert_allclose(w.numpy(), d * s0 + (1 - d) * (s0 + 1.0), rtol=1e-6)
    model.optimizer.iterations.assign(14)
    before = [w.numpy().copy() for w in model.weights]
    cb.on_train_batch_end(0)  # step 14: no sync since step 10 (period 5)
    assert all(np.array_equal(w.numpy(), b) for w, b in zip(model.weights, before))
    model.optimizer.iterations.assign(15)
    model.weights[0].assign(model.weights[0].value + 2.0)
    cb.on_train_batch_end(1)  # step 15: sync
    d = 0.95**5 * (15 / 20) ** 3
    np.testing.assert_allclose(model.weights[0].numpy(),
                               before[0] + (1 - d) * 2.0, rtol=1e-5)  # fmt: skip
