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
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo import registry
from zoo.config import TrainConfig
from zoo.distribute import restores_precision
from zoo.errors import ZooError

MASK_RATE = 0.15  # share of real tokens predicted
MASK_TOKEN_RATE, RANDOM_TOKEN_RATE = 0.8, 0.1  # of the predicted ones; the rest stay
VAL_EXAMPLES = 2000  # held out of the split (at most val_fraction of it) for masked accuracy
TASK = "mlm"


def max_predictions(sequence_length: int, rate: float = MASK_RATE) -> int:
    return max(1, math.ceil(sequence_length * rate))


def mask_tokens(ids, seed, vocab_size: int, num_predictions: int, rate: float = MASK_RATE):
    """Mask a batch of token ids (batch, length) for masked-LM training.

    -> (masked ids, positions (batch, k), original ids at them, weights (batch, k)). Each row
    predicts round(rate * real tokens) positions (at least 1, at most k), drawn uniformly among
    its real tokens; special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) are never chosen. Weights are
    1 for the chosen positions and 0 for the filler slots up to k."""
    import tensorflow as tf

    from zoo.preprocess import MASK_ID, SPECIAL_TOKENS

    ids = tf.convert_to_tensor(ids, tf.int32)
    shape = tf.shape(ids)
    k = min(num_predictions, int(ids.shape[1]))
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    real = ids >= len(SPECIAL_TOKENS)
    n_real = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)
    wanted = tf.cast(tf.round(tf.cast(n_real, tf.float32) * rate), tf.int32)
    n_pred = tf.minimum(tf.maximum(wanted, tf.minimum(n_real, 1)), k)
    scores = tf.random.stateless_uniform(shape, seeds[0])
    scores = tf.where(real, scores, -1.0)  # real tokens first, in random order
    _, positions = tf.math.top_k(scores, k=k, sorted=True)
    weights = tf.range(k)[None, :] < n_pred[:, None]
    labels = tf.gather(ids, positions, batch_dims=1)
    draw = tf.random.stateless_uniform(tf.shape(positions), seeds[1])
    random_ids = tf.random.stateless_uniform(
        tf.shape(positions), seeds[2], minval=len(SPECIAL_TOKENS), maxval=vocab_size, dtype=tf.int32
    )
    new = tf.where(
        draw < MASK_TOKEN_RATE,
        MASK_ID,
        tf.where(draw < MASK_TOKEN_RATE + RANDOM_TOKEN_RATE, random_ids, labels),
    )
    new = tf.where(weights, new, labels)  # filler slots write back what was there
    rows = tf.broadcast_to(tf.range(shape[0])[:, None], tf.shape(positions))
    masked = tf.tensor_scatter_nd_update(ids, tf.stack([rows, positions], -1), new)
    return masked, positions, labels, tf.cast(weights, tf.float32)


@restores_precision
def pretrain(
    config: TrainConfig,
    run_name: str | None = None,
    runs_dir: str | Path | None = None,
    *,
    tpu: str | None = None,
    download: bool = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """Masked-LM pretraining of ``config.model`` on the text of ``config.train_split`` (default:
    the dataset's training split); returns the run summary (also metrics.json)."""
    import keras
    import tensorflow as tf

    from zoo import data, runs, trainer
    from zoo.models.bert import build_bert_pretrainer

    console = trainer.default_console(console)
    started = time.time()
    spec = registry.get_spec(config.model)
    if spec.pretrain != TASK:
        pretrainable = ", ".join(s.name for s in registry.list_models() if s.pretrain == TASK)
        raise ZooError(f"{spec.name} has no masked-LM pretraining; pretrain one of: {pretrainable}")
    strategy, jit, report = trainer.setup(config, tpu)
    run, work, resuming = trainer.open_run(
        config, spec, run_name, runs_dir, report, strategy, console
    )

    # --- Text: the split's raw strings, a held-out tail for masked accuracy --------------------
    info = data.inspect(config.dataset, config.data_dir, sequence_length=config.sequence_length)
    if info.modality != "text":
        raise ZooError(f"{info.name} is not a text dataset; pretrain on text, e.g. imdb_reviews")
    builder = data.get_builder(config.dataset, config.data_dir)
    data.ensure_prepared(builder, download)
    split = config.train_split or info.train_split
    texts = data.load_texts(builder, info, split, smoke=config.smoke)
    n = data.count(texts)
    held = min(VAL_EXAMPLES, int(n * config.val_fraction))
    if n - held < 1 or held < 1:
        raise ZooError(f"split {split} of {info.name} has {n} texts; pretraining needs more")
    train_texts, val_texts = texts.take(n - held), texts.skip(n - held)
    # --init-from: BERT's second phase, continuing a run at a longer sequence length
    source, vocab_dir = trainer.init_source(config, spec, run, resuming)
    encoder = trainer.text_encoder(config, spec, train_texts, vocab_dir, console)
    info = dataclasses.replace(info, vocab_size=encoder.vocabulary_size(), train_split=split)
    k = max_predictions(config.sequence_length)
    steps = data.steps_per_epoch(n - held, config.batch_size)
    first_epoch = trainer._resume_epoch(work) if resuming else 0

    def masked(ds, training: bool, offset: int):
        pipe = data.make_pipeline(
            ds.map(lambda x: (x, 0)),
            info,
            batch_size=config.batch_size,
            encode=encoder,
            training=training,
            seed=config.seed,
            one_hot=False,
            examples=n - held if training else None,
            epochs=(first_epoch, config.epochs) if training else None,
        )

        def mask(i, batch):
            seed = tf.stack([tf.constant(config.seed, tf.int64), i + offset])
            ids, positions, labels, weights = mask_tokens(batch[0], seed, info.vocab_size, k)
            return {"tokens": ids, "positions": positions}, labels, weights

        return trainer._distributed(
            pipe.enumerate().map(mask, num_parallel_calls=data.AUTOTUNE).prefetch(data.AUTOTUNE)
        )

    train_ds = masked(
        train_texts.apply(tf.data.experimental.assert_cardinality(n - held)),
        True,
        first_epoch * steps,
    )
    val_ds = masked(val_texts, False, 1 << 40)  # the same masks every epoch

    # --- Model ---------------------------------------------------------------------------------
    from zoo import training

    with strategy.scope():
        model = build_bert_pretrainer(
            info, registry.model_config(spec.name, config.model_config), k
        )
        model.compile(
            optimizer=training.make_optimizer(config, steps),
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"
            ),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=jit,
            steps_per_execution=config.steps_per_execution,
        )
        if not resuming:
            trainer.warm_start(model, source, spec, console)
    if report.is_chief:
        trainer._write_run(run, config, info, encoder, report, resuming, n - held)
        run.update_record(task=TASK)
    console.print(
        f"run {run.path} ({'resuming at epoch ' + str(first_epoch + 1) if resuming else 'new'}"
        f"): masked-LM pretraining of {spec.name} on {info.name} {split}, {n - held} texts "
        f"({held} held out), vocabulary {info.vocab_size:,}, {steps} steps/epoch, "
        f"{model.count_params():,} parameters"
    )
    trainer.fit(model, train_ds, val_ds, config, steps, work, run, report.is_chief, console)

    # --- Best weights -> model.keras; masked-token metrics on the held-out texts -------------
    best = work / "checkpoints" / "best.weights.h5"
    if best.exists():
        model.load_weights(str(best))
    loss, accuracy = model.evaluate(val_ds, verbose=0, return_dict=False)[:2]
    summary = {
        "run_dir": str(run.path),
        "task": TASK,
        "model": spec.name,
        "dataset": info.name,
        "split": split,
        "epochs": config.epochs,
        "train_texts": n - held,
        "heldout_texts": held,
        "vocab_size": info.vocab_size,
        "masked_loss": float(loss),
        "masked_accuracy": float(accuracy),
        "wall_time_s": round(time.time() - started, 1),
        "parameters": int(model.count_params()),
    }
    if report.is_chief:
        model.save(str(run.file(runs.MODEL)))
        runs.write_json(run.file(runs.METRICS), summary)
        from zoo import plots

        if plots.available():
            (run.path / "plots").mkdir(exist_ok=True)
            summary["plots"] = [
                str(
                    plots.training_curves(run.file(runs.HISTORY), run.path / "plots" / "curves.png")
                )
            ]
        run.update_record(status="finished", finished=trainer._now())
    console.print(
        f"masked-token accuracy {accuracy:.4f}, loss {loss:.4f} ({held} held-out texts) in "
        f"{summary['wall_time_s']}s -> {run.path}"
    )
    return summary
