"""What `zoo models` shows: one row per variant, and one variant in full (config, recipe,
parameters and FLOPs per example on the reference input or the sizes given)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from zoo import config as cfg_lib
from zoo.config import TrainConfig
from zoo.models import registry


def model_rows(pattern: str | None = None, modality: str | None = None) -> list[dict[str, Any]]:
    """One row per variant: name, family, modality, parameters and FLOPs per example (on the
    reference input), description. Read from ``zoo.models.index``: no model is built and Keras
    is not imported, so the listing answers at once."""
    import fnmatch

    from zoo.errors import ZooError
    from zoo.models.index import VARIANTS

    if modality is not None and modality not in registry.MODALITIES:
        raise ZooError(
            f"unknown modality {modality!r}; choose one of {', '.join(registry.MODALITIES)}"
        )
    from zoo.training.presets import PRESETS

    rows = [
        {"name": name, **row, "presets": list(PRESETS.get(name, ()))}
        for name, row in VARIANTS.items()
    ]
    if pattern:
        rows = [
            r
            for r in rows
            if fnmatch.fnmatch(r["name"], pattern) or fnmatch.fnmatch(r["family"], pattern)
        ]
    if modality:
        rows = [r for r in rows if modality in r["modalities"]]
    return sorted(rows, key=lambda r: (r["family"], r["name"]))


def index_row(spec) -> dict[str, Any]:
    """The ``zoo.models.index`` row of a registered variant, built on the reference input."""
    from zoo.data.datasets import reference_info

    info = reference_info(spec.modality)
    model = registry.create_model(spec.name, info)
    dtype = "int32" if spec.modality == "text" else "float32"
    return {
        "family": spec.family,
        "modality": spec.modality,
        "modalities": list(spec.modalities),
        "parameters": int(model.count_params()),
        "flops_per_example": flops(model, info.input_shape, dtype),
        "description": spec.description,
        "default": spec.default,
        "tasks": list(spec.tasks),
    }


def model_info(
    name: str,
    image_size: int | None = None,
    num_classes: int | None = None,
    vocab_size: int | None = None,
) -> dict[str, Any]:
    """Full default config, recipe, parameter count and FLOPs per example of one variant, on
    the reference input or the image size / classes / vocabulary given."""
    from zoo.data.datasets import reference_info

    spec = registry.get_spec(name)
    info = reference_info(spec.modality)
    if image_size and spec.modality == "image":
        info = dataclasses.replace(info, input_shape=(image_size, image_size, 3))
    if num_classes:
        names = tuple(str(i) for i in range(num_classes))
        info = dataclasses.replace(info, num_classes=num_classes, label_names=names)
    if vocab_size and spec.modality == "text":
        info = dataclasses.replace(info, vocab_size=vocab_size)
    model = registry.create_model(spec.name, info)
    from zoo.training.presets import PRESETS

    return {
        "name": spec.name,
        "family": spec.family,
        "modality": spec.modality,
        "description": spec.description,
        "reference_input": {
            "input_shape": list(info.input_shape),
            "num_classes": info.num_classes,
            **({"vocab_size": info.vocab_size} if spec.modality == "text" else {}),
        },
        "parameters": int(model.count_params()),
        "flops_per_example": flops(
            model, info.input_shape, "int32" if spec.modality == "text" else "float32"
        ),
        "config": cfg_lib.to_dict(spec.config),
        "presets": list(PRESETS.get(spec.name, ())),
        "dataset_recipes": spec.dataset_recipes,
        "recipe": {
            **cfg_lib.to_dict(TrainConfig()),
            **spec.recipe,
            "model": spec.name,
            "dataset": None,
        },
        **(
            {"pretrain_recipe": {**cfg_lib.to_dict(TrainConfig()), **spec.pretrain_recipe}}
            if spec.pretrain
            else {}
        ),
    }


def flops(model, input_shape: Sequence[int], dtype: str, training: bool = False) -> int:
    """Floating-point operations of one forward pass on one example (a multiply-add counts 2):
    TensorFlow's profiler on the traced graph, plus the recurrent layers' loops, which the
    profiler does not look into (see ``recurrent_flops``). ``training``: the training pass
    (without test-time augmentation's views)."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=training), autograph=False)
    concrete = fn.get_concrete_function(tf.TensorSpec([1, *input_shape], dtype))
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    result = tf.compat.v1.profiler.profile(graph=concrete.graph, cmd="op", options=opts)
    return int(result.total_float_ops) + recurrent_flops(model)


def recurrent_flops(model) -> int:
    """FLOPs per example of the recurrent layers (SimpleRNN, LSTM, GRU, also inside
    Bidirectional and nested models): at each time step the input and recurrent kernels'
    matmuls and the bias adds; the elementwise gate arithmetic is not counted."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            shape = _input_shape(layer)
            total += _rnn_flops(layer.forward_layer, shape)
            total += _rnn_flops(layer.backward_layer, shape)
        elif isinstance(layer, keras.layers.RNN):
            total += _rnn_flops(layer, _input_shape(layer))
        elif isinstance(layer, keras.Model):
            total += recurrent_flops(layer)
    return total


def _input_shape(layer):
    inputs = layer.input  # a list where the layer was also called with a mask
    return (inputs[0] if isinstance(inputs, (list, tuple)) else inputs).shape


def _rnn_flops(layer, input_shape) -> int:
    import math

    cell = layer.cell
    steps = input_shape[1]
    if steps is None:  # no fixed number of steps: not counted, like the profiler's unknown shapes
        return 0
    weights = math.prod(cell.kernel.shape) + math.prod(cell.recurrent_kernel.shape)
    bias = math.prod(cell.bias.shape) if cell.use_bias else 0
    return int(steps) * (2 * weights + bias)


def hardware_efficiency(
    model, info, train_examples_per_s: float, precision: str, training: bool = False
) -> dict:
    """Training FLOP/s (3x the forward FLOPs per example, the usual estimate of forward plus
    backward, times examples/s) and its share of this machine's matmul peak in the precision's
    compute dtype, measured by a probe in the same process. FLOPs are ``model_info.flops``: the
    profiler's count plus the recurrent loops it does not look into."""
    import tensorflow as tf

    dtype = "int32" if info.modality == "text" else "float32"
    forward = flops(model, info.input_shape, dtype, training)
    compute = {"mixed_bfloat16": tf.bfloat16, "mixed_float16": tf.float16}.get(
        precision, tf.float32
    )
    peak = matmul_peak(compute)
    train = 3 * forward * train_examples_per_s
    return {
        "flops_per_example": forward,
        "train_flops_per_s": train,
        "matmul_peak_flops_per_s": peak,
        "matmul_peak_dtype": compute.name,
        "share_of_peak": train / peak if peak else None,
    }


def matmul_peak(dtype, n: int = 2048, rounds: int = 10) -> float:
    """FLOP/s of an n x n matmul in ``dtype`` (median of ``rounds`` after a warm-up)."""
    import statistics
    import time

    import tensorflow as tf

    a = tf.random.uniform((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.reduce_sum(tf.cast(tf.matmul(x, x), tf.float32)))
    matmul(a).numpy()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        matmul(a).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)
