"""tf.data pipelines from TFDS splits: examples selected for the model (images resized,
audio clips fitted, sentence pairs stacked), cached when small, shuffled and batched, and
augmented a batch at a time, each epoch from the seed alone (a resumed run sees the batches an
uninterrupted one sees).
"""

from __future__ import annotations

from collections.abc import Callable

from zoo.data.datasets import DatasetInfo, split_size
from zoo.errors import ZooError

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow at module load
CACHE_LIMIT_BYTES = 2 << 30  # cache a split in memory when its decoded size is below this
SMOKE_EXAMPLES = {"train": 64, "val": 32, "test": 64}


def _read(builder, info: DatasetInfo, split: str, shuffle: bool, read_config):
    split_size(builder, info, split)
    try:
        return builder.as_dataset(split=split, shuffle_files=shuffle, read_config=read_config)
    except (ValueError, KeyError, AssertionError) as e:
        known = ", ".join(info.splits) or "unknown"
        raise ZooError(
            f"bad split {split!r} for {info.name}: {str(e).splitlines()[0]} (splits: {known})"
        ) from None


def load_split(builder, info: DatasetInfo, split: str, *, role: str, smoke: bool, seed: int):
    """(input, label) examples of one split: images resized to the model size, uint8; a
    sentence pair as one string tensor of shape [2] (what the WordPiece tokenizer packs)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    read = tfds.ReadConfig(shuffle_seed=seed, try_autocache=False)
    ds = _read(builder, info, split, role == "train", read)
    x_key, y_key = info.input_key, info.label_key
    if info.modality == "image":
        from zoo.data.preprocess import maybe_resize

        size = tuple(info.input_shape[:2])
        channels = info.input_shape[2]

        def select(ex):
            image = ex[x_key]
            if image.shape[-1] != channels:  # e.g. RGB model on a grayscale dataset
                image = (
                    tf.image.grayscale_to_rgb(image)
                    if channels == 3
                    else tf.image.rgb_to_grayscale(image)
                )
            return maybe_resize(image, size), ex[y_key]
    elif info.modality == "audio":
        from zoo.data.preprocess import fit_length, to_int16

        clip = info.input_shape[0]

        def select(ex):  # int16 clips of the model's length: the cacheable form
            return fit_length(to_int16(ex[x_key]), clip), ex[y_key]
    elif info.pair_key:
        pair_key = info.pair_key

        def select(ex):
            return tf.stack([ex[x_key], ex[pair_key]]), ex[y_key]
    else:

        def select(ex):
            return ex[x_key], ex[y_key]

    ds = ds.map(select, num_parallel_calls=AUTOTUNE)
    ds = ds.filter(lambda x, y: y >= 0)  # unlabeled examples (label -1) never count
    if smoke:
        ds = ds.take(SMOKE_EXAMPLES[role])
    return ds


def load_texts(builder, info: DatasetInfo, split: str, *, smoke: bool):
    """The raw strings of one split in stored order, labeled or not (pretraining text); both
    texts of a sentence pair, one after the other."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    ds = _read(builder, info, split, False, tfds.ReadConfig(try_autocache=False))
    keys = [info.input_key, *([info.pair_key] if info.pair_key else [])]
    ds = ds.map(lambda ex: tf.stack([ex[k] for k in keys]), num_parallel_calls=AUTOTUNE).unbatch()
    if smoke:
        ds = ds.take(SMOKE_EXAMPLES["train"] + SMOKE_EXAMPLES["val"])
    return ds


def _fits_in_memory(info: DatasetInfo, examples: int | None) -> bool:
    if examples is None:
        return False
    per_example = 1
    for d in info.input_shape:
        per_example *= d
    if info.modality in ("text", "audio"):
        per_example *= 4 if info.modality == "text" else 2  # int32 token ids, int16 samples
    return examples * per_example < CACHE_LIMIT_BYTES


def drop_remainder(training: bool, examples: int | None, batch_size: int) -> bool:
    """Training drops the last partial batch: a static batch dimension makes recurrent layers
    about 20% faster on CPU here (LSTM on IMDB), and the dropped examples come back in other
    epochs' shuffles. Not when the split is smaller than one batch."""
    return bool(training and examples and examples >= batch_size)


def _batch(ds, batch_size: int, training: bool, examples: int | None):
    return ds.batch(
        batch_size,
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
        drop_remainder=drop_remainder(training, examples, batch_size),
    )


def steps_per_epoch(examples: int, batch_size: int) -> int:
    return examples // batch_size if examples >= batch_size else 1


def execution_plan(examples: int, batch_size: int, requested: int) -> tuple[int, int]:
    """(steps per epoch, steps per execution), the first a multiple of the second. Keras runs
    whole executions, so an epoch of 703 steps at 16 a call would take 704 batches and shift
    every later epoch (and a resume) by one. The execution length is the divisor of the epoch's
    steps nearest ``requested`` within a factor of two (703 = 19 x 37: 19 for 16), the whole
    epoch when it is shorter than ``requested``; when no divisor is near, ``requested``, and each
    epoch leaves out its last ``steps % requested`` batches (other epochs' shuffles bring them
    back)."""
    steps = steps_per_epoch(examples, batch_size)
    if requested <= 1:
        return steps, 1
    if requested >= steps:
        return steps, steps
    near = range(max(2, (requested + 1) // 2), min(2 * requested, steps) + 1)
    exact = [s for s in near if steps % s == 0]
    if exact:
        return steps, min(exact, key=lambda s: (abs(s - requested), s))
    return steps - steps % requested, requested


def _epochs(ds, info, batch_size, seed, augment, examples, steps, first, last):
    """Epochs first..last-1 concatenated, each shuffled and augmented from (seed, epoch) alone.
    The epoch seeds are Python ints on purpose: tf.data's tensor-seed path breaks under a global
    seed of 0 (TF compares the seed pair with == in Python)."""
    import functools

    import tensorflow as tf

    from zoo.data.modalities import augmenter
    from zoo.data.preprocess import alternating_flip

    buffer = min(examples or 10_000, 50_000)
    augment_fn = augmenter(info, augment)
    indexed = "altflip" in augment and augment_fn is not None
    if indexed:  # each example keeps its index in the split: its flip alternates by epoch
        ds = ds.enumerate().map(lambda i, xy: ((xy[0], i), xy[1]))

    def one_epoch(epoch: int):
        epoch_seed = seed * 1_000_003 + epoch

        def augment_batch(i, xy):  # batch i of the epoch draws from (seed, epoch, i)
            x = xy[0]
            if indexed:
                x = alternating_flip(x[0], x[1], seed, epoch)
            return augment_fn(x, tf.stack([tf.constant(epoch_seed, tf.int64), i])), xy[1]

        d = _batch(ds.shuffle(buffer, seed=epoch_seed), batch_size, True, examples)
        if steps is not None:
            d = d.take(steps)
        if augment_fn is not None:
            d = d.enumerate().map(augment_batch, num_parallel_calls=AUTOTUNE, deterministic=True)
        return d

    return functools.reduce(
        lambda a, b: a.concatenate(b), (one_epoch(e) for e in range(first, max(last, first + 1)))
    )


def counted(ds, info: DatasetInfo, *, bound: int, cache: bool):
    """(dataset, examples) of one split, in one pass: tf.data cannot know the size (the label
    filter hides it). With ``cache``, a split whose ``bound`` (its stored size) fits in memory
    is cached by that same pass, so the first epoch reads memory instead of decoding every
    image again, and evaluation passes read memory too."""
    import tensorflow as tf

    if cache and _fits_in_memory(info, bound):
        ds = ds.cache()
    n = count(ds)
    return ds.apply(tf.data.experimental.assert_cardinality(n)), n


def count(ds) -> int:
    """Examples in a dataset: its cardinality when known, else one pass over it."""
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(ds.reduce(0, lambda c, _: c + 1))


def make_pipeline(
    ds,
    info: DatasetInfo,
    *,
    batch_size: int,
    preprocess: Callable | None = None,
    encode: Callable | None = None,
    training: bool,
    seed: int = 0,
    augment: str = "none",
    one_hot: bool = True,
    examples: int | None = None,
    epochs: tuple[int, int] | None = None,
    steps: int | None = None,
    cached: bool = False,
):
    """Batches of (model input, label).

    ``encode`` (e.g. the text vectorizer) runs once per example before the cache, in large
    parallel batches, so tokenization is paid in the first epoch only; ``preprocess`` (e.g. uint8
    -> float) runs per batch after it, so the cache stays compact. Then shuffle, batch, augment
    (whole batches), prefetch. A ``cached`` dataset (``counted``) is not cached again.

    With ``epochs=(first, last)`` a training pipeline runs epochs first..last-1 back to back, and
    each epoch's order and augmentation depend only on (seed, epoch): a run resumed at epoch k
    sees exactly the batches an uninterrupted run sees (use with ``steps_per_epoch``); ``steps``
    cuts each of those epochs to that many batches (``execution_plan``)."""
    import tensorflow as tf

    if encode is not None:  # token ids as int32: the models' input dtype
        ds = (
            ds.batch(1024)
            .map(lambda x, y: (tf.cast(encode(x), tf.int32), y), num_parallel_calls=AUTOTUNE)
            .unbatch()
        )
    if (encode is not None or not cached) and _fits_in_memory(info, examples):
        ds = ds.cache()
    if training and epochs is not None:
        ds = _epochs(ds, info, batch_size, seed, augment, examples, steps, *epochs)
    else:
        if training:
            buffer = min(examples or 10_000, 50_000)
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        ds = _batch(ds, batch_size, training, examples)
        if training:
            from zoo.data.modalities import augmenter

            augment_fn = augmenter(info, augment)
            if augment_fn is not None:
                seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
                ds = tf.data.Dataset.zip((ds, seeds)).map(
                    lambda xy, s: (augment_fn(xy[0], s), xy[1]),
                    num_parallel_calls=AUTOTUNE,
                    deterministic=True,
                )
    num_classes = info.num_classes

    def finish(x, y):
        y = tf.cast(y, tf.int32)
        x = preprocess(x) if preprocess is not None else x
        return x, (tf.one_hot(y, num_classes) if one_hot else y)

    return ds.map(finish, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)
