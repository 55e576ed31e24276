"""Preprocessing shared by training (inside tf.data) and serving (inside the exported graph).

One definition, two uses: ``prepare_images`` runs in the tf.data pipeline during training and in
the SavedModel's signatures on export, so a served image goes through exactly the same resize and
scaling as a training image. Text uses a Keras ``TextVectorization`` layer the same way.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.models.tokens import CLS_ID, MASK_ID, PAD_ID, SEP_ID, SPECIAL_TOKENS, UNK_ID  # noqa: F401


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


def _shifted_windows(padded: tf.Tensor, starts: tf.Tensor, length: int, axis: int) -> tf.Tensor:
    """Each example's window ``starts[b] : starts[b] + length`` along ``axis`` of a batch: one
    gather for the whole batch, however the starts differ."""
    index = starts[:, None] + tf.range(length)[None, :]
    return tf.gather(padded, index, axis=axis, batch_dims=1)


def alternating_flip(images: tf.Tensor, index: tf.Tensor, run_seed: int, epoch: int) -> tf.Tensor:
    """airbench's alternating flip: each image is mirrored by a fixed coin (a hash of its index
    in the split and the run's seed) in even epochs and the other way in odd ones, so every
    image is seen both ways in every two epochs, where independent flips repeat one side
    half the time."""
    h = (tf.cast(index, tf.int64) * 2654435761 + run_seed * 40503 + 12345) % (1 << 32)
    coin = tf.bitwise.bitwise_and(tf.bitwise.right_shift(h, 16), 1) == 1
    mirror = tf.math.logical_xor(coin, epoch % 2 == 1)
    return tf.where(mirror[:, None, None, None], tf.reverse(images, [2]), images)


def augment_images(images: tf.Tensor, seed: tf.Tensor, mode: str) -> tf.Tensor:
    """Random flip and/or pad-and-crop of a batch of uint8 images (B, H, W, C), each image its
    own draw; stateless, so a seed fixes the batch. Crop: zero-pad ``max(2, H // 8)`` pixels on
    every side (4 for 32x32) and cut an HxW window at a uniform offset. A few vectorised ops per
    batch: per-image ops in tf.data cost more CPU than the flip and crop themselves, taken from
    the cores that train (Keras's RandomCrop draws one window per batch, not per image)."""
    flip_seed, row_seed, col_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    batch = tf.shape(images)[0]
    if "flip" in mode and "altflip" not in mode:  # altflip: pipelines, by example and epoch
        mirror = tf.random.stateless_uniform([batch], flip_seed) < 0.5
        images = tf.where(mirror[:, None, None, None], tf.reverse(images, [2]), images)
    if "crop" in mode or "translate" in mode:  # translate: airbench's 2 pixels, reflected
        height, width = images.shape[1], images.shape[2]
        pad = 2 if "translate" in mode else max(2, height // 8)
        fill = "REFLECT" if "translate" in mode else "CONSTANT"
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode=fill)
        starts = lambda s: tf.random.stateless_uniform([batch], s, 0, 2 * pad + 1, tf.int32)
        images = _shifted_windows(padded, starts(row_seed), height, axis=1)
        images = _shifted_windows(images, starts(col_seed), width, axis=2)
    return images


# ---------------------------------------------------------------------------------------------
# Audio: int16 clips of a fixed length in tf.data (compact to cache), float in the model's input
# ---------------------------------------------------------------------------------------------

AUDIO_SCALE = 32768.0  # int16 full scale: samples / AUDIO_SCALE lie in [-1, 1)


def to_int16(samples: tf.Tensor) -> tf.Tensor:
    """Integer samples in the int16 range (TFDS stores them as int16 or int64) as int16."""
    samples = tf.convert_to_tensor(samples)
    if samples.dtype.is_floating:  # [-1, 1] floats, e.g. a decoded WAV
        samples = tf.round(samples * AUDIO_SCALE)
    return tf.cast(tf.clip_by_value(tf.cast(samples, tf.int64), -32768, 32767), tf.int16)


def fit_length(wave: tf.Tensor, length: int) -> tf.Tensor:
    """One clip to exactly ``length`` samples: longer ones keep their centre, shorter ones are
    padded with silence at the end. Training, evaluation and every export use this."""
    n = tf.shape(wave)[0]
    start = tf.maximum((n - length) // 2, 0)
    wave = wave[start : start + length]
    wave = tf.pad(wave, [[0, length - tf.shape(wave)[0]]])
    return tf.ensure_shape(wave, [length])


def prepare_audio(clips: tf.Tensor) -> tf.Tensor:
    """int16 clips -> float32 waveforms in [-1, 1): the model's input (its front end makes the
    log-mel spectrogram)."""
    return tf.cast(clips, tf.float32) / AUDIO_SCALE


def decode_wav(data: tf.Tensor, sample_rate: int, length: int) -> tf.Tensor:
    """WAV file bytes -> the int16 clip the model takes. Another sample rate than the model's is
    an error naming both (resampling would hide a mismatch the user should know about)."""
    wave, rate = tf.audio.decode_wav(data, desired_channels=1)
    check = tf.debugging.assert_equal(
        rate,
        tf.constant(sample_rate, tf.int32),
        message=f"the WAV sample rate differs from the model's {sample_rate} Hz; resample it",
    )
    with tf.control_dependencies([check]):
        return fit_length(to_int16(wave[:, 0]), length)


def shift_audio(clips: tf.Tensor, seed: tf.Tensor, max_fraction: float = 0.1) -> tf.Tensor:
    """Random time shift of each clip of a batch (B, L) by up to ``max_fraction`` of its length,
    filled with silence, each clip its own draw; stateless, so a seed fixes the batch."""
    length = clips.shape[1]
    limit = max(1, int(length * max_fraction))
    starts = tf.random.stateless_uniform([tf.shape(clips)[0]], seed, 0, 2 * limit + 1, tf.int32)
    return _shifted_windows(tf.pad(clips, [[0, 0], [limit, limit]]), starts, length, axis=1)


# ---------------------------------------------------------------------------------------------
# Text: a Keras TextVectorization layer, fitted on the training split only
# ---------------------------------------------------------------------------------------------

VOCAB_FILE, TEXT_CONFIG = "vocabulary.txt", "text_vectorizer.json"


def make_vectorizer(max_tokens: int, sequence_length: int, standardize: str, vocabulary=None):
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
        return make_vectorizer(
            int(cfg["max_tokens"]), int(cfg["sequence_length"]), str(cfg["standardize"]), vocab
        )
    except (OSError, ValueError, KeyError, TypeError):
        raise ZooError(
            f"{directory / TEXT_CONFIG} or {VOCAB_FILE} beside it is missing or corrupted; "
            "retrain the run"
        ) from None


# ---------------------------------------------------------------------------------------------
# Text for BERT-style models: a WordPiece vocabulary learned from the training text
# ---------------------------------------------------------------------------------------------

WORDPIECE_CONFIG = "wordpiece.json"


class WordPiece(keras.layers.Layer):
    """Strings -> ``[CLS] a [SEP]`` (or ``[CLS] a [SEP] b [SEP]``) WordPiece ids, padded with
    ``[PAD]`` to ``sequence_length``.

    The special tokens are found in the vocabulary by name, so the zoo's own vocabularies
    (``[PAD] [UNK] [CLS] [SEP] [MASK]`` first) and BERT's (``[PAD]`` 0, ``[UNK]`` 100, ``[CLS]``
    101, ...) both work; ``[PAD]`` must be id 0, the id the models mask.

    Normalisation is KerasHub's ``WordPieceTokenizer``'s: case folding when ``lower_case``,
    accent stripping (NFD, then no combining marks) when ``strip_accents`` (default: as
    ``lower_case``, which is also tensorflow-text's ``BertTokenizer(lower_case=True)``). Then
    tensorflow-text's ``BertTokenizer`` splits on whitespace and punctuation and does the greedy
    longest-match WordPiece, so the same graph ops tokenize in tf.data and inside the exported
    SavedModel. Not ``FastBertTokenizer``, although it is faster: TF Serving's model server lacks
    its ops (tensorflow/serving#2064), and tokenization runs once per example before the cache.
    """

    def __init__(
        self,
        vocabulary,
        sequence_length: int,
        lower_case: bool = True,
        strip_accents: bool | None = None,
        **kwargs,
    ):
        kwargs.setdefault("name", "wordpiece")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        import tensorflow_text as tf_text

        vocab = list(vocabulary)
        self.special_ids = special_ids(vocab)
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = self.special_ids
        self.vocabulary = vocab
        self.sequence_length = sequence_length
        self.lower_case = lower_case
        self.strip_accents = lower_case if strip_accents is None else bool(strip_accents)
        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocab), tf.range(len(vocab), dtype=tf.int64)
            ),
            num_oov_buckets=1,
        )
        self._tokenizer = tf_text.BertTokenizer(
            table, token_out_type=tf.int64, unknown_token="[UNK]", lower_case=False
        )

    def normalize(self, texts):
        import tensorflow_text as tf_text

        if self.lower_case:
            texts = tf_text.case_fold_utf8(texts)
        if self.strip_accents:
            texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
        return texts

    @property
    def trackable(self):
        """What an export must track: the tokenizer's vocabulary table."""
        return self._tokenizer

    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def tokenize(self, texts):
        """Strings (batch,) -> ragged WordPiece ids, no special tokens, no length limit."""
        ids = self._tokenizer.tokenize(self.normalize(tf.convert_to_tensor(texts, tf.string)))
        return tf.cast(ids.merge_dims(-2, -1), tf.int32)  # (batch, words, pieces) -> pieces

    def detokenize(self, ids):
        """Ids (batch, length) -> strings, special tokens dropped, word pieces joined."""
        ids = tf.convert_to_tensor(ids)
        special = tf.reduce_any(ids[..., None] == tf.constant(self.special_ids, ids.dtype), -1)
        ids = tf.ragged.boolean_mask(ids, tf.logical_not(special))
        words = self._tokenizer.detokenize(tf.cast(ids, tf.int64))
        return tf.strings.reduce_join(words, axis=-1, separator=" ")

    def pack(self, first, second=None):
        """Ragged ids of one or two texts -> dense (batch, sequence_length) model input; the
        texts are truncated (round-robin, for pairs) so every [SEP] fits."""
        import tensorflow_text as tf_text

        segments = [first] if second is None else [first, second]
        budget = self.sequence_length - 1 - len(segments)  # [CLS] + one [SEP] per text
        segments = tf_text.RoundRobinTrimmer(max(budget, 1)).trim(segments)
        ids, _ = tf_text.combine_segments(segments, self.cls_id, self.sep_id)
        ids, _ = tf_text.pad_model_inputs(ids, self.sequence_length, pad_value=self.pad_id)
        return tf.cast(ids, tf.int32)

    def call(self, texts, second=None):
        """``texts`` (batch,) and optionally ``second`` (batch,) -> ids; a (batch, 2) string
        tensor is a batch of sentence pairs, as the zoo's data pipelines carry them."""
        texts = tf.convert_to_tensor(texts, tf.string)
        if second is None and texts.shape.rank == 2:
            texts, second = texts[:, 0], texts[:, 1]
        if second is None:
            return self.pack(self.tokenize(texts))
        return self.pack(self.tokenize(texts), self.tokenize(second))

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "sequence_length": self.sequence_length,
            "lower_case": self.lower_case,
            "strip_accents": self.strip_accents,
        }


def special_ids(vocabulary) -> tuple[int, ...]:
    """The ids of ``[PAD] [UNK] [CLS] [SEP] [MASK]`` in a WordPiece vocabulary; a missing one,
    or ``[PAD]`` anywhere but id 0, is an error naming it."""
    from zoo.errors import ZooError

    index: dict[str, int] = {}
    for i, token in enumerate(vocabulary):
        index.setdefault(token, i)
    missing = [t for t in SPECIAL_TOKENS if t not in index]
    if missing:
        raise ZooError(
            f"the WordPiece vocabulary lacks {' '.join(missing)}; a BERT vocabulary needs "
            f"{' '.join(SPECIAL_TOKENS)}"
        )
    if index["[PAD]"] != PAD_ID:
        raise ZooError(f"[PAD] is id {index['[PAD]']} in the WordPiece vocabulary; it must be 0")
    return tuple(index[t] for t in SPECIAL_TOKENS)


def learn_wordpiece(texts, vocab_size: int, sequence_length: int, lower_case: bool = True):
    """Learn a WordPiece vocabulary of at most ``vocab_size`` entries from ``texts`` (a tf.data
    dataset of strings) with Hugging Face ``tokenizers``' WordPiece trainer, set up as BERT's
    (same normalisation and pre-tokenisation as tensorflow-text's ``BertTokenizer``).

    Not tensorflow-text's own learner: it binary-searches a count threshold in Python, and on
    IMDB's 22,500 training reviews it was still searching after about 2.5 minutes here; this one
    learned a 30,522-entry vocabulary from them in 12 s."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lower_case, lowercase=lower_case
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )

    def batches():
        for batch in texts.batch(1024).as_numpy_iterator():
            yield [t.decode("utf-8", errors="replace") for t in batch]

    tokenizer.train_from_iterator(batches(), trainer)
    by_id = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return WordPiece([token for token, _ in by_id], sequence_length, lower_case)


def save_text_encoder(encoder, directory) -> None:
    """Write a run's text encoder (TextVectorization or WordPiece) to ``directory``."""
    import json
    from pathlib import Path

    if not isinstance(encoder, WordPiece):
        return save_vectorizer(encoder, directory)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / VOCAB_FILE).write_text("\n".join(encoder.vocabulary) + "\n", encoding="utf-8")
    keep = {
        "sequence_length": encoder.sequence_length,
        "lower_case": encoder.lower_case,
        "strip_accents": encoder.strip_accents,
    }
    (directory / WORDPIECE_CONFIG).write_text(json.dumps(keep, indent=2) + "\n")


def load_text_encoder(directory, sequence_length: int | None = None):
    """The text encoder saved in ``directory``: WordPiece when a wordpiece.json is there, else
    the TextVectorization layer. ``sequence_length`` overrides the saved one (fine-tuning)."""
    import json
    from pathlib import Path

    from zoo.errors import ZooError

    directory = Path(directory)
    if not (directory / WORDPIECE_CONFIG).exists():
        vec = load_vectorizer(directory)
        if sequence_length and sequence_length != vec.get_config()["output_sequence_length"]:
            cfg = vec.get_config()
            vec = make_vectorizer(
                cfg["max_tokens"],
                sequence_length,
                cfg["standardize"] or "none",
                vec.get_vocabulary(include_special_tokens=False),
            )
        return vec
    try:
        cfg = json.loads((directory / WORDPIECE_CONFIG).read_text())
        vocab = (directory / VOCAB_FILE).read_text(encoding="utf-8").split("\n")[:-1]
        length, lower = int(sequence_length or cfg["sequence_length"]), bool(cfg["lower_case"])
        strip = bool(cfg.get("strip_accents", lower))
    except (OSError, ValueError, KeyError, TypeError):
        raise ZooError(
            f"{directory / WORDPIECE_CONFIG} or {VOCAB_FILE} beside it is missing or corrupted; "
            "retrain the run"
        ) from None
    return WordPiece(vocab, length, lower, strip)


def has_text_encoder(directory) -> bool:
    from pathlib import Path

    return (Path(directory) / VOCAB_FILE).exists()
