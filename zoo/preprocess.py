"""Preprocessing shared by training (inside tf.data) and serving (inside the exported graph).

One definition, two uses: ``prepare_images`` runs in the tf.data pipeline during training and in
the SavedModel's signatures on export, so a served image goes through exactly the same resize and
scaling as a training image. Text uses a Keras ``TextVectorization`` layer the same way.
"""

from __future__ import annotations

import tensorflow as tf


def resize_image(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Resize one uint8 image (H, W, C) to ``size``, keeping uint8 (the cacheable form)."""
    image = tf.convert_to_tensor(image)
    resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def maybe_resize(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Resize only images whose size differs from ``size`` (a no-op for the dataset's own size)."""
    same = tf.logical_and(tf.shape(image)[0] == size[0], tf.shape(image)[1] == size[1])
    out = tf.cond(same, lambda: tf.cast(image, tf.uint8), lambda: resize_image(image, size))
    return tf.ensure_shape(out, [size[0], size[1], None])


def prepare_images(images: tf.Tensor) -> tf.Tensor:
    """uint8 images of the model's size -> float32 in [0, 1]: the model's input."""
    return tf.cast(images, tf.float32) / 255.0


def decode_image(data: tf.Tensor, channels: int, size: tuple[int, int]) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP bytes -> uint8 image (size, channels)."""
    image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    return resize_image(image, size)


def augment_image(image: tf.Tensor, seed: tf.Tensor, mode: str) -> tf.Tensor:
    """Random flip and/or pad-and-crop of one uint8 image, stateless so a seed fixes it."""
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if "flip" in mode:
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    if "crop" in mode:
        shape = tf.shape(image)
        height, width = image.shape[0], image.shape[1]
        pad = max(2, height // 8)
        padded = tf.image.pad_to_bounding_box(image, pad, pad, height + 2 * pad, width + 2 * pad)
        image = tf.image.stateless_random_crop(padded, shape, crop_seed)
    return image


# ---------------------------------------------------------------------------------------------
# Text: a Keras TextVectorization layer, fitted on the training split only
# ---------------------------------------------------------------------------------------------

VOCAB_FILE, TEXT_CONFIG = "vocabulary.txt", "text_vectorizer.json"


def make_vectorizer(max_tokens: int, sequence_length: int, standardize: str, vocabulary=None):
    import keras

    return keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=None if standardize == "none" else standardize,
        output_mode="int",
        output_sequence_length=sequence_length,
        vocabulary=vocabulary,
        name="text_vectorizer",
    )


def fit_vectorizer(
    texts, max_tokens: int, sequence_length: int, standardize: str, batch: int = 512
):
    """Learn the vocabulary from ``texts`` (a tf.data dataset of strings: the training split)."""
    vec = make_vectorizer(max_tokens, sequence_length, standardize)
    vec.adapt(texts.batch(batch))
    return vec


def save_vectorizer(vec, directory) -> None:
    import json
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab = vec.get_vocabulary(include_special_tokens=False)
    (directory / VOCAB_FILE).write_text("\n".join(vocab) + "\n", encoding="utf-8")
    cfg = vec.get_config()
    keep = {
        "max_tokens": cfg["max_tokens"],
        "sequence_length": cfg["output_sequence_length"],
        "standardize": cfg["standardize"] or "none",
    }
    (directory / TEXT_CONFIG).write_text(json.dumps(keep, indent=2) + "\n")


def load_vectorizer(directory):
    import json
    from pathlib import Path

    from zoo.errors import ZooError

    directory = Path(directory)
    try:
        cfg = json.loads((directory / TEXT_CONFIG).read_text())
        vocab = (directory / VOCAB_FILE).read_text(encoding="utf-8").split("\n")[:-1]
    except (OSError, ValueError):
        raise ZooError(
            f"{directory} holds no readable text vectorizer (vocabulary missing or "
            "corrupted); retrain the run"
        ) from None
    return make_vectorizer(cfg["max_tokens"], cfg["sequence_length"], cfg["standardize"], vocab)
