"""Training throughput of the tutorial `cnn` on CIFAR-10-shaped data, three ways, one process:

  seed     the seed document's plain-Keras script: float32 numpy arrays, model.fit(x, y)
  handtuned a hand-tuned tf.data loop: uint8 tensors, cache, shuffle, batch, map(scale), prefetch
  zoo      the pipeline and compile step `zoo train` builds (zoo.data.pipelines.make_pipeline)

Same model, same batch size, epochs alternating between the three, medians reported.

    python scripts/bench_cnn.py --examples 10000 --batch-size 64 --rounds 5
"""

from __future__ import annotations

import argparse
import json

import keras
import tensorflow as tf

from zoo.benchmark import EpochTimer, alternate, cifar_shaped
from zoo.config import TrainConfig
from zoo.data import pipelines, preprocess
from zoo.models import registry
from zoo.tasks import get_task


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--steps-per-execution",
        type=int,
        default=None,
        help="zoo side only (default: the zoo's own default)",
    )
    p.add_argument(
        "--precision",
        default="auto",
        help="zoo side only (default: the zoo's own default, auto: mixed_bfloat16 on CPUs with "
        "AMX- or AVX512-BF16, else float32); the seed and hand-tuned loops stay float32 as written",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    n, bs = args.examples, args.batch_size
    info, images, labels = cifar_shaped(n)
    steps = pipelines.steps_per_epoch(n, bs)
    cfg = TrainConfig(
        model="cnn", dataset=info.name, batch_size=bs, epochs=10_000, schedule="constant"
    )
    zoo_cfg = (
        cfg
        if args.steps_per_execution is None
        else TrainConfig(**{**cfg.__dict__, "steps_per_execution": args.steps_per_execution})
    )

    def model(loss="categorical", config=cfg):
        keras.utils.set_random_seed(0)
        m = registry.create_model("cnn", info)
        if loss == "sparse":  # exactly the tutorial's compile call
            m.compile(
                optimizer="adam",
                metrics=["accuracy"],
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
        else:
            get_task("classify").compile(m, config, steps, jit=False)
        return m

    timer = EpochTimer()
    # seed: the tutorial's arrays, divided by 255 up front, and fit(x, y)
    x_float = images.astype("float32") / 255.0
    seed_model = model("sparse")

    def seed_epoch():
        seed_model.fit(x_float, labels, batch_size=bs, epochs=1, verbose=0, callbacks=[timer])
        return timer.seconds

    # hand-tuned tf.data: what an expert writes by hand for in-memory data
    hand = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .cache()
        .shuffle(n)
        .batch(bs, num_parallel_calls=-1)
        .map(
            lambda x, y: (tf.cast(x, tf.float32) / 255.0, tf.one_hot(y, 10)), num_parallel_calls=-1
        )
        .prefetch(-1)
    )
    hand_model = model()

    def hand_epoch():
        hand_model.fit(hand, epochs=1, verbose=0, callbacks=[timer])
        return timer.seconds

    # zoo: the pipeline of `zoo train` over the same uint8 examples
    raw = tf.data.Dataset.from_tensor_slices((images, labels))
    zoo_ds = pipelines.make_pipeline(
        raw,
        info,
        batch_size=bs,
        preprocess=preprocess.prepare_images,
        training=True,
        seed=0,
        examples=n,
        epochs=(0, 1),
    )
    from zoo.training import distribute

    precision = distribute.resolve_precision(args.precision, tf.distribute.get_strategy(), "image")
    distribute.set_precision(precision)  # the global policy applies to models built next
    zoo_model = model(config=zoo_cfg)

    def zoo_epoch():
        zoo_model.fit(zoo_ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
        return timer.seconds

    result = alternate(
        {"seed": seed_epoch, "handtuned": hand_epoch, "zoo": zoo_epoch}, args.rounds, n, log=print
    )
    rate = result["examples_per_s"]
    result.update(
        batch_size=bs,
        zoo_precision=precision,
        zoo_vs_seed=rate["zoo"] / rate["seed"],
        zoo_vs_handtuned=rate["zoo"] / rate["handtuned"],
        tensorflow=tf.__version__,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("examples/s: " + ", ".join(f"{k} {v:.0f}" for k, v in rate.items()))
        print(
            f"zoo/seed = {result['zoo_vs_seed']:.2f}x   zoo/handtuned = "
            f"{result['zoo_vs_handtuned']:.2f}x   (medians of {args.rounds} epochs, batch {bs}, "
            f"zoo precision {precision})"
        )


if __name__ == "__main__":
    main()
