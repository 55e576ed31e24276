"""Throughput of a model: training and inference examples/s, median step time, peak memory.

Data are random tensors of the dataset's shapes (``--dataset``, read from TFDS metadata without
a download) or of the reference input, held in memory, so the numbers measure the model and
the training step rather than disk or decoding.
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import sys
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from zoo import config as cfg_lib
from zoo import engine
from zoo.data.datasets import reference_info
from zoo.errors import ZooError
from zoo.model_info import hardware_efficiency
from zoo.models import registry
from zoo.tasks import TrainingData, get_task
from zoo.training import distribute


class StepTimer(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def on_train_begin(self, logs=None):
        self.times = []


def synthetic(info, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    if info.modality == "image":
        x = rng.random((n, *info.input_shape), dtype=np.float32)
    elif info.modality == "audio":  # waveforms in [-1, 1)
        x = rng.uniform(-1, 1, (n, *info.input_shape)).astype(np.float32)
    else:
        x = rng.integers(1, max(2, info.vocab_size), (n, *info.input_shape)).astype(np.int32)
    y = keras.utils.to_categorical(rng.integers(0, info.num_classes, n), info.num_classes)
    return x, y


def cifar_shaped(n: int, seed: int = 0):
    """(info, uint8 images, int labels): ``n`` random CIFAR-10-shaped examples as stored, the
    raw input of the zoo's pipelines (the benchmark scripts' data)."""
    import dataclasses

    from zoo.data.datasets import reference_info

    rng = np.random.default_rng(seed)
    info = dataclasses.replace(reference_info("image"), name="cifar10-shaped")
    return info, rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def peak_memory() -> dict[str, Any]:
    out = {"host_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if sys.platform == "darwin":
        out["host_peak_rss_mb"] /= 1024
    for gpu in tf.config.list_logical_devices("GPU"):
        info = tf.config.experimental.get_memory_info(gpu.name)
        out.setdefault("gpu_peak_mb", {})[gpu.name] = info["peak"] / 2**20
    return out


@distribute.restores_precision
def run(
    model_name: str,
    dataset: str | None = None,
    batch_size: int | None = None,
    steps: int = 50,
    warmup: int = 5,
    data_dir: str | None = None,
    image_size: int | None = None,
    precision: str = "auto",
    xla: str = "auto",
    strategy_name: str = "auto",
) -> dict[str, Any]:
    """Train ``warmup + steps`` steps and predict ``steps`` batches; report medians."""
    from zoo.data import datasets

    if steps < 3 or warmup < 1:
        raise ZooError("--steps must be at least 3 and --warmup at least 1")
    spec = registry.get_spec(model_name)
    if dataset:
        info = datasets.inspect(dataset, data_dir, image_size=image_size)
        if info.modality == "text":
            info = dataclasses.replace(info, vocab_size=spec.recipe.get("max_tokens", 20000))
        if info.modality == "audio" and info.input_shape[0] is None:  # one-second clips
            info = dataclasses.replace(info, input_shape=(info.sample_rate,))
    else:
        info = reference_info(spec.modality)
    batch = batch_size or spec.recipe.get("batch_size", 64)
    config = cfg_lib.from_dict(
        cfg_lib.TrainConfig,
        {
            **spec.recipe,
            "model": spec.name,
            "dataset": info.name,
            "batch_size": batch,
            "precision": precision,
            "xla": xla,
            "strategy": strategy_name,
        },
    )
    # The step `zoo train` runs: the engine's setup and the classification task's compile.
    hw = engine.setup(config.runtime, spec.modality)
    x, y = synthetic(info, batch * 8)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch).prefetch(-1)
    inputs = TrainingData(info=info, examples=batch * 8, train=lambda first, steps: ds, val=None)
    model = engine.build_model(get_task("classify"), spec, inputs, config, hw, warmup + steps)
    jit, report = hw.jit, hw.report
    timer = StepTimer()
    model.fit(ds, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[timer])
    train_times = timer.times[warmup:]
    predict = tf.function(lambda t: model(t, training=False), jit_compile=jit)
    xb = tf.constant(x[:batch])
    for _ in range(warmup):
        predict(xb).numpy()
    infer_times = []
    for _ in range(steps):
        t = time.perf_counter()
        predict(xb).numpy()
        infer_times.append(time.perf_counter() - t)
    step = statistics.median(train_times)
    infer = statistics.median(infer_times)
    efficiency = hardware_efficiency(model, info, batch / step, report.precision, training=True)
    return {
        "model": spec.name,
        "dataset": info.name,
        "input_shape": list(info.input_shape),
        "batch_size": batch,
        "steps": steps,
        "warmup_steps": warmup,
        "train_median_step_ms": 1000 * step,
        "train_examples_per_s": batch / step,
        "infer_median_batch_ms": 1000 * infer,
        "infer_examples_per_s": batch / infer,
        "parameters": int(model.count_params()),
        "strategy": report.to_json(),
        **efficiency,
        **peak_memory(),
    }


class EpochTimer(keras.callbacks.Callback):
    """Seconds of the last epoch (training steps only, no validation)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def alternate(contenders: dict, rounds: int, examples: int, log=print) -> dict[str, Any]:
    """Run one epoch of each contender per round, in turn, so all see the same machine load;
    round 0 warms up (tracing, caches). Returns median seconds and examples/s per contender;
    the caller forms the ratios it reports."""
    seconds = {name: [] for name in contenders}
    for r in range(rounds + 1):
        line = []
        for name, epoch in contenders.items():
            s = epoch()
            line.append(f"{name} {s:.2f}s")
            if r:
                seconds[name].append(s)
        log(f"round {r}{' (warmup)' if not r else ''}: " + "  ".join(line))
    medians = {k: statistics.median(v) for k, v in seconds.items()}
    return {
        "median_epoch_s": medians,
        "examples_per_s": {k: examples / v for k, v in medians.items()},
        "rounds": rounds,
        "examples_per_epoch": examples,
    }
