"""Training throughput of `lstm` on imdb_reviews: the zoo's tf.data pipeline vs the seed's
plain-Keras recipe (numpy arrays from pad_sequences, model.fit), same model, same batch, one
process, alternating epochs so both see the same machine load. Prints examples/s and the ratio.

    python scripts/bench_lstm_imdb.py --data-dir ../shared/data/tfds --examples 6400 --rounds 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.benchmark import EpochTimer, alternate
from zoo.config import TrainConfig
from zoo.data import datasets, pipelines
from zoo.data.preprocess import fit_vectorizer
from zoo.models import registry
from zoo.tasks import get_task


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--examples", type=int, default=6400, help="training examples per epoch")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=4, help="timed epochs per side (after 1 warmup)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    cfg = TrainConfig(
        model="lstm",
        dataset="imdb_reviews",
        max_tokens=10000,
        sequence_length=256,
        batch_size=args.batch_size,
        epochs=args.rounds + 1,
    )
    builder = datasets.get_builder("imdb_reviews", args.data_dir)
    info = datasets.inspect("imdb_reviews", args.data_dir, builder=builder)
    raw = pipelines.load_split(builder, info, "train", role="train", smoke=False, seed=0)
    raw = raw.take(args.examples).cache()
    vec = fit_vectorizer(
        raw.map(lambda x, y: x), cfg.max_tokens, cfg.sequence_length, cfg.standardize
    )
    info = dataclasses.replace(info, vocab_size=int(vec.vocabulary_size()))

    # The seed's way: token lists -> pad_sequences -> numpy arrays -> fit(x, y).
    texts, labels = zip(*raw.as_numpy_iterator())
    ids = vec(tf.constant(texts)).numpy()
    seqs = [row[row > 0].tolist() for row in ids]
    x_np = keras.utils.pad_sequences(seqs, maxlen=cfg.sequence_length)
    y_np = keras.utils.to_categorical(np.array(labels), info.num_classes)

    # The zoo's way: the same pipeline `zoo train` builds.
    zoo_ds = pipelines.make_pipeline(
        raw, info, batch_size=cfg.batch_size, encode=vec, training=True, examples=args.examples
    )

    def model():
        keras.utils.set_random_seed(0)
        m = registry.create_model("lstm", info)
        get_task("classify").compile(m, cfg, -(-args.examples // cfg.batch_size), jit=False)
        return m

    seed_model, zoo_model = model(), model()
    timer = EpochTimer()

    def seed_epoch():
        seed_model.fit(
            x_np,
            y_np,
            batch_size=cfg.batch_size,
            epochs=1,
            shuffle=True,
            verbose=0,
            callbacks=[timer],
        )
        return timer.seconds

    def zoo_epoch():
        zoo_model.fit(zoo_ds, epochs=1, verbose=0, callbacks=[timer])
        return timer.seconds

    result = alternate({"seed": seed_epoch, "zoo": zoo_epoch}, args.rounds, args.examples)
    rate = result["examples_per_s"]
    result.update(
        batch_size=cfg.batch_size,
        zoo_vs_seed=rate["zoo"] / rate["seed"],
        tensorflow=tf.__version__,
        tfds=tfds.__version__,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"seed script {rate['seed']:.0f} ex/s, zoo {rate['zoo']:.0f} ex/s: "
            f"zoo/seed = {result['zoo_vs_seed']:.2f}x (medians of {args.rounds} epochs)"
        )


if __name__ == "__main__":
    main()
