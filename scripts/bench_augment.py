"""Training-time flip + pad-and-crop, per image (the zoo before) against per batch (now), one process:

  per_image  a tf.data map over single images (stateless flip and random crop), then batch
  per_batch  the zoo's pipeline (zoo.data.pipelines.make_pipeline): batch, then one map per batch

Each side is timed twice in each round: the input pipeline alone (wall and CPU seconds per epoch:
the CPU it takes from the cores that train) and one training epoch of MODEL fed by it. Epochs
alternate between the sides, medians are reported.

    python scripts/bench_augment.py --model resnet20 --examples 6400 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import keras
import tensorflow as tf

from zoo.benchmark import EpochTimer, alternate, cifar_shaped
from zoo.config import TrainConfig
from zoo.data import pipelines, preprocess
from zoo.models import registry
from zoo.tasks import get_task
from zoo.training import distribute

AUTOTUNE = tf.data.AUTOTUNE


def per_image_pipeline(images, labels, batch_size: int, seed: int):
    """The zoo's augmentation before it went per batch: a stateless draw for each image."""

    def augment(i, image, label):
        flip_seed, crop_seed = tf.unstack(
            tf.random.experimental.stateless_split(tf.stack([tf.constant(seed, tf.int64), i]), 2)
        )
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        padded = tf.image.pad_to_bounding_box(image, 4, 4, 40, 40)
        return tf.image.stateless_random_crop(padded, [32, 32, 3], crop_seed), label

    return (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .cache()
        .shuffle(len(labels), seed=seed)
        .enumerate()
        .map(lambda i, xy: augment(i, *xy), num_parallel_calls=AUTOTUNE, deterministic=True)
        .batch(batch_size, num_parallel_calls=AUTOTUNE, deterministic=True, drop_remainder=True)
        .map(
            lambda x, y: (preprocess.prepare_images(x), tf.one_hot(tf.cast(y, tf.int32), 10)),
            num_parallel_calls=AUTOTUNE,
        )
        .prefetch(AUTOTUNE)
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--examples", type=int, default=6400)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--precision", default="auto")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    n, bs = args.examples, args.batch_size
    info, images, labels = cifar_shaped(n)
    steps = pipelines.steps_per_epoch(n, bs)
    pipes = {
        "per_image": per_image_pipeline(images, labels, bs, seed=0),
        "per_batch": pipelines.make_pipeline(
            tf.data.Dataset.from_tensor_slices((images, labels)),
            info,
            batch_size=bs,
            preprocess=preprocess.prepare_images,
            training=True,
            seed=0,
            augment="flip_crop",
            examples=n,
            epochs=(0, 1),
        ),
    }
    precision = distribute.resolve_precision(args.precision, tf.distribute.get_strategy(), "image")
    distribute.set_precision(precision)
    config = TrainConfig(model=args.model, dataset=info.name, batch_size=bs, epochs=10_000)
    timer, cpu = EpochTimer(), {name: [] for name in pipes}

    def read(name):
        def epoch():
            wall, used = time.perf_counter(), time.process_time()
            for _ in pipes[name]:
                pass
            cpu[name].append(time.process_time() - used)
            return time.perf_counter() - wall

        return epoch

    def train(name):
        keras.utils.set_random_seed(0)
        model = registry.create_model(args.model, info)
        get_task("classify").compile(model, config, steps, jit=False)

        def epoch():
            model.fit(pipes[name], epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
            return timer.seconds

        return epoch

    contenders = {f"{name} data": read(name) for name in pipes}
    contenders.update({f"{name} train": train(name) for name in pipes})
    result = alternate(contenders, args.rounds, n, log=print)
    rate = result["examples_per_s"]
    result.update(
        model=args.model,
        batch_size=bs,
        precision=precision,
        data_cpu_s={k: statistics.median(v[1:]) for k, v in cpu.items()},
        train_speedup=rate["per_batch train"] / rate["per_image train"],
        tensorflow=tf.__version__,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in pipes:
        print(
            f"{name}: data alone {result['median_epoch_s'][f'{name} data']:.2f}s wall, "
            f"{result['data_cpu_s'][name]:.2f}s CPU per {n} images; training "
            f"{rate[f'{name} train']:.0f} examples/s"
        )
    print(f"training per_batch / per_image = {result['train_speedup']:.2f}x ({precision})")


if __name__ == "__main__":
    main()
