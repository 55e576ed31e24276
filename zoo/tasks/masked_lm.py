"""Masked-language-model pretraining of BERT-style encoders (``zoo pretrain``).

Raw text of any split (labels, if any, are ignored) -> WordPiece vocabulary learned from that
text -> 15% of each sequence's real tokens chosen for prediction, of which 80% become
``[MASK]``, 10% a random token and 10% stay as they are (Devlin et al. 2018) -> the model predicts
the original tokens at those positions only. The run directory holds the pretraining model and
the vocabulary; ``zoo train MODEL --init-from RUN`` fine-tunes from it.

Masking uses stateless random ops keyed by (seed, global batch index), so every batch of every
epoch is masked the same way in a resumed run as in an uninterrupted one. tensorflow-text's
``mask_language_model`` draws from stateful generators, which a seed cannot pin down under
parallel tf.data maps; that is why the few lines below exist.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import keras

from zoo.data import datasets as data_lib
from zoo.data import modalities, pipelines
from zoo.errors import ZooError
from zoo.models import registry
from zoo.models.tokens import SPECIAL_TOKENS
from zoo.tasks.base import Task, TrainingData
from zoo.training import optimizers

ZOO_SPECIAL_IDS = tuple(range(len(SPECIAL_TOKENS)))  # the zoo's vocabularies: 0-4

MASK_RATE = 0.15  # share of real tokens predicted
MASK_TOKEN_RATE, RANDOM_TOKEN_RATE = 0.8, 0.1  # of the predicted ones; the rest stay
VAL_EXAMPLES = 2000  # held out of the split (at most val_fraction of it) for masked accuracy


def max_predictions(sequence_length: int, rate: float = MASK_RATE) -> int:
    return max(1, math.ceil(sequence_length * rate))


def mask_tokens(
    ids,
    seed,
    vocab_size: int,
    num_predictions: int,
    rate: float = MASK_RATE,
    special: tuple[int, ...] = ZOO_SPECIAL_IDS,
):
    """Mask a batch of token ids (batch, length) for masked-LM training.

    -> (masked ids, positions (batch, k), original ids at them, weights (batch, k)). Each row
    predicts round(rate * real tokens) positions (at least 1, at most k), drawn uniformly among
    its real tokens; the ``special`` ids ([PAD] [UNK] [CLS] [SEP] [MASK], in that order) are
    never chosen nor drawn as random replacements. Weights are 1 for the chosen positions and 0
    for the filler slots up to k."""
    import tensorflow as tf

    ids = tf.convert_to_tensor(ids, tf.int32)
    shape = tf.shape(ids)
    k = min(num_predictions, int(ids.shape[1]))
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    special_ids = tf.constant(special, tf.int32)
    real = tf.logical_not(tf.reduce_any(ids[..., None] == special_ids, axis=-1))
    n_real = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)
    wanted = tf.cast(tf.round(tf.cast(n_real, tf.float32) * rate), tf.int32)
    n_pred = tf.minimum(tf.maximum(wanted, tf.minimum(n_real, 1)), k)
    scores = tf.random.stateless_uniform(shape, seeds[0])
    scores = tf.where(real, scores, -1.0)  # real tokens first, in random order
    _, positions = tf.math.top_k(scores, k=k, sorted=True)
    weights = tf.range(k)[None, :] < n_pred[:, None]
    labels = tf.gather(ids, positions, batch_dims=1)
    draw = tf.random.stateless_uniform(tf.shape(positions), seeds[1])
    # A uniform draw over the ordinary ids: draw among vocab_size - len(special), then step
    # over the special ids at or below each draw (in increasing order).
    ordinary = tf.random.stateless_uniform(
        tf.shape(positions), seeds[2], minval=0, maxval=vocab_size - len(special), dtype=tf.int32
    )
    random_ids = ordinary
    for special_id in sorted(special):
        random_ids = random_ids + tf.cast(random_ids >= special_id, tf.int32)
    new = tf.where(
        draw < MASK_TOKEN_RATE,
        special[SPECIAL_TOKENS.index("[MASK]")],
        tf.where(draw < MASK_TOKEN_RATE + RANDOM_TOKEN_RATE, random_ids, labels),
    )
    new = tf.where(weights, new, labels)  # filler slots write back what was there
    rows = tf.broadcast_to(tf.range(shape[0])[:, None], tf.shape(positions))
    masked = tf.tensor_scatter_nd_update(ids, tf.stack([rows, positions], -1), new)
    return masked, positions, labels, tf.cast(weights, tf.float32)


class MaskedLM(Task):
    name = "mlm"

    def check(self, spec) -> None:
        if self.name not in spec.tasks:
            able = ", ".join(s.name for s in registry.list_models() if self.name in s.tasks)
            raise ZooError(f"{spec.name} has no masked-LM pretraining; pretrain one of: {able}")

    def recipe(self, spec) -> dict:
        return spec.pretrain_recipe

    def data(self, config, spec, *, vocab_dir: Path | None, download: bool, console):
        """The split's raw strings, a held-out tail for masked accuracy, the vocabulary."""
        import tensorflow as tf

        info = data_lib.inspect(
            config.dataset, config.data_dir, sequence_length=config.sequence_length
        )
        if info.modality != "text":
            raise ZooError(
                f"{info.name} is not a text dataset; pretrain on text, e.g. imdb_reviews"
            )
        builder = data_lib.get_builder(config.dataset, config.data_dir)
        data_lib.ensure_prepared(builder, download)
        split = config.train_split or info.train_split
        texts = pipelines.load_texts(builder, info, split, smoke=config.smoke)
        n = pipelines.count(texts)
        held = min(VAL_EXAMPLES, int(n * config.val_fraction))
        if n - held < 1 or held < 1:
            raise ZooError(f"split {split} of {info.name} has {n} texts; pretraining needs more")
        train_texts, val_texts = texts.take(n - held), texts.skip(n - held)
        pieces = modalities.adapter(info, spec, lambda: train_texts, config, vocab_dir, console)
        info = dataclasses.replace(pieces.info, train_split=split)
        k = max_predictions(config.sequence_length)

        def masked(ds, training: bool, offset: int, first_epoch: int = 0, steps=None):
            pipe = pipelines.make_pipeline(
                ds.map(lambda x: (x, 0)),
                info,
                batch_size=config.batch_size,
                encode=pieces.encoder,
                training=training,
                seed=config.seed,
                one_hot=False,
                examples=n - held if training else None,
                epochs=(first_epoch, config.epochs) if training else None,
                steps=steps,
            )

            def mask(i, batch):
                seed = tf.stack([tf.constant(config.seed, tf.int64), i + offset])
                ids, positions, labels, weights = mask_tokens(
                    batch[0], seed, info.vocab_size, k, special=pieces.encoder.special_ids
                )
                return {"tokens": ids, "positions": positions}, labels, weights

            return (
                pipe.enumerate()
                .map(mask, num_parallel_calls=pipelines.AUTOTUNE)
                .prefetch(pipelines.AUTOTUNE)
            )

        sized = train_texts.apply(tf.data.experimental.assert_cardinality(n - held))
        return TrainingData(
            info=info,
            examples=n - held,
            train=lambda first, steps: masked(sized, True, first * steps, first, steps),
            val=masked(val_texts, False, 1 << 40),  # the same masks every epoch
            encoder=pieces.encoder,
            facts={
                "task": self.name,
                "split": split,
                "train_texts": n - held,
                "heldout_texts": held,
                "vocab_size": info.vocab_size,
                "predictions_per_text": k,
            },
        )

    def build(self, spec, data: TrainingData, config):
        from zoo.models.bert import build_bert_pretrainer

        model_config = registry.model_config(spec.name, config.model_config)
        return build_bert_pretrainer(data.info, model_config, data.facts["predictions_per_text"])

    def compile(
        self, model, config, steps_per_epoch: int, jit: bool, per_execution: int = 1
    ) -> None:
        model.compile(
            optimizer=optimizers.make_optimizer(config.optimization, steps_per_epoch),
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"
            ),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=jit,
            steps_per_execution=per_execution,
        )

    def evaluate(self, run, model, data: TrainingData, config) -> dict[str, Any]:
        """Masked-token loss and accuracy on the held-out texts (fixed masks)."""
        loss, accuracy = model.evaluate(data.val, verbose=0, return_dict=False)[:2]
        return {"masked_loss": float(loss), "masked_accuracy": float(accuracy)}

    def describe(self, spec, data: TrainingData) -> str:
        f = data.facts
        return (
            f"masked-LM pretraining of {spec.name} on {data.info.name} {f['split']}, "
            f"{f['train_texts']} texts ({f['heldout_texts']} held out), vocabulary "
            f"{f['vocab_size']:,}"
        )

    def report(self, summary: dict) -> str:
        return (
            f"masked-token accuracy {summary['masked_accuracy']:.4f}, loss "
            f"{summary['masked_loss']:.4f} ({summary['heldout_texts']} held-out texts) in "
            f"{summary['wall_time_s']}s -> {summary['run_dir']}"
        )
