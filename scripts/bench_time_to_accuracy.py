"""Time to accuracy on CIFAR-10, side by side: the seed script as written (the TensorFlow
tutorial CNN on numpy arrays, Adam, batch 64, `fit` with the test split as validation) against
`zoo train cnn --dataset cifar10`, each in its own process, one after the other. Both report
test accuracy after every epoch (the zoo through a benchmark-only callback); the script prints
the wall time from each process's start until it first reaches the seed's own final test
accuracy, and the ratio. Ablations switch one zoo ingredient off at a time (--ablations): the
recipe, the precision, steps_per_execution, and the input pipeline with the engine (the zoo's
model and recipe fed numpy arrays, as the seed is).

    python scripts/bench_time_to_accuracy.py --data-dir ../shared/data/tfds --ablations
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.time()
ROOT = Path(__file__).resolve().parent.parent
ABLATIONS = {  # name: config values that switch one zoo ingredient off
    "zoo": {},
    "zoo, seed's recipe (constant lr 1e-3, no warmup, no label smoothing)": {
        "schedule": "constant", "label_smoothing": 0.0, "learning_rate": 1e-3,
        "warmup_epochs": 0.0,
    },
    "zoo, float32 (auto picks mixed_bfloat16 on CPUs with AMX- or AVX512-BF16)": {
        "precision": "float32"
    },
    "zoo, one step per tf.function call (the recipe's steps_per_execution 16 off)": {
        "steps_per_execution": 1
    },
    "zoo's model and recipe fed the seed's way (numpy arrays into fit: no zoo input pipeline "
    "or engine)": {"side": "numpy"},
}  # fmt: skip


def seed_side(data_dir: str, epochs: int) -> None:
    """The seed script: numpy arrays, the tutorial model and compile, fit."""
    import keras
    import tensorflow_datasets as tfds
    from keras import layers

    (x, y), (xt, yt) = tfds.as_numpy(
        tfds.load("cifar10", split=["train", "test"], batch_size=-1, as_supervised=True,
                  data_dir=data_dir)
    )  # fmt: skip
    x, xt = x / 255.0, xt / 255.0
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.Flatten(),
        layers.Dense(64, activation="relu"), layers.Dense(10),
    ])  # fmt: skip
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    report = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: print(
            json.dumps({"epoch": e + 1, "s": time.time() - START, "acc": logs["val_accuracy"]}),
            flush=True,
        )
    )
    model.fit(x, y, epochs=epochs, batch_size=64, validation_data=(xt, yt), verbose=0,
              callbacks=[report])  # fmt: skip


def zoo_side(data_dir: str, epochs: int, values: dict) -> None:
    """`zoo train cnn --dataset cifar10` with a callback that evaluates the test split (cached
    in memory after its first pass, as the seed holds its test arrays)."""
    import keras

    from zoo import api
    from zoo.data import datasets, pipelines, preprocess
    from zoo.tasks import get_task
    from zoo.training import evaluation

    flags = {"data_dir": data_dir, "epochs": epochs, **values}
    config = api.resolve_train_config("cnn", "cifar10", flags=flags)
    info = datasets.inspect("cifar10", data_dir)
    builder = datasets.get_builder("cifar10", data_dir)
    test = pipelines.make_pipeline(
        pipelines.load_split(builder, info, "test", role="test", smoke=False, seed=0).cache(), info,
        batch_size=256, preprocess=preprocess.prepare_images,
        training=False, one_hot=False,
    )  # fmt: skip

    class TestAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            probs, labels = evaluation.predict_dataset(
                lambda x: keras.ops.softmax(self.model(x, training=False)), test
            )
            acc = float((probs.argmax(1) == labels).mean())
            point = {"epoch": epoch + 1, "s": time.time() - START, "acc": acc}
            print(json.dumps(point), flush=True)

    with tempfile.TemporaryDirectory() as runs_dir:
        from zoo import engine

        engine.train(get_task("classify"), config, "bench", runs_dir,
                     extra_callbacks=(TestAccuracy(),))  # fmt: skip


def numpy_side(data_dir: str, epochs: int, values: dict) -> None:
    """The zoo's model, recipe and compile on the zoo's training split, fed as the seed feeds
    its model: numpy arrays into `fit`, the test arrays as validation data. Against the zoo side
    this switches off the input pipeline and the engine (callbacks, validation split)."""
    import keras
    import numpy as np
    import tensorflow_datasets as tfds

    from zoo import api
    from zoo.data import datasets
    from zoo.models import registry
    from zoo.tasks import get_task
    from zoo.training import distribute

    config = api.resolve_train_config(
        "cnn", "cifar10", flags={"data_dir": data_dir, "epochs": epochs, **values}
    )
    info = datasets.inspect("cifar10", data_dir)
    (x, y), (xt, yt) = tfds.as_numpy(
        tfds.load("cifar10", split=[info.train_split, "test"], batch_size=-1,
                  as_supervised=True, data_dir=data_dir)
    )  # fmt: skip
    x, xt = (x / np.float32(255)).astype("float32"), (xt / np.float32(255)).astype("float32")
    y, yt = keras.utils.to_categorical(y, 10), keras.utils.to_categorical(yt, 10)
    keras.utils.set_random_seed(config.seed)
    strategy = distribute.create_strategy("auto")  # the precision `zoo train` would pick
    distribute.set_precision(distribute.resolve_precision(config.precision, strategy, "image"))
    model = registry.create_model("cnn", info, config.model_config)
    steps = len(x) // config.batch_size
    get_task("classify").compile(model, config, steps, jit=False,
                                 per_execution=config.steps_per_execution)  # fmt: skip
    report = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: print(
            json.dumps({"epoch": e + 1, "s": time.time() - START, "acc": logs["val_accuracy"]}),
            flush=True,
        )
    )
    model.fit(x, y, epochs=config.epochs, batch_size=config.batch_size, verbose=0,
              validation_data=(xt, yt), callbacks=[report])  # fmt: skip


def run_side(args, side: str, values: dict) -> list[dict]:
    values = dict(values)
    side = values.pop("side", side)
    cmd = [sys.executable, __file__, "--side", side, "--data-dir", args.data_dir,
           "--epochs", str(args.epochs), "--values", json.dumps(values)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def first_reaching(points: list[dict], target: float) -> float | None:
    return next((p["s"] for p in points if p["acc"] >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument("--side", choices=["seed", "zoo", "numpy"])
    parser.add_argument("--values", default="{}")
    args = parser.parse_args()
    if args.side == "seed":
        return seed_side(args.data_dir, args.epochs)
    if args.side == "zoo":
        return zoo_side(args.data_dir, args.epochs, json.loads(args.values))
    if args.side == "numpy":
        return numpy_side(args.data_dir, args.epochs, json.loads(args.values))
    seed = run_side(args, "seed", {})
    target = seed[-1]["acc"]
    seed_s = first_reaching(seed, target)
    print(f"seed: final test accuracy {target:.4f}, reached at {seed_s:.0f} s")
    sides = ABLATIONS if args.ablations else {"zoo": {}}
    for name, values in sides.items():
        points = run_side(args, "zoo", values)
        reach = first_reaching(points, target)
        ratio = f"{reach / seed_s:.2f}x the seed's time" if reach else "never reached it"
        print(f"{name}: final {points[-1]['acc']:.4f} after {points[-1]['s']:.0f} s; reached "
              f"{target:.4f} at {reach or float('nan'):.0f} s = {ratio}")  # fmt: skip


if __name__ == "__main__":
    main()
