"""The serving graph: the model with its preprocessing and labels, as a SavedModel serves it.

Signatures of an image export:
  serving_default   image_bytes: tf.string [batch] (encoded JPEG/PNG/GIF/BMP; `_bytes` lets TF
                    Serving's REST API take base64) -> decoded and resized in-graph
  serving_images    images: tf.uint8 [batch, height, width, channels], any size
A text export has serving_default with text: tf.string [batch], tokenized in-graph; a
sentence-pair export (GLUE MRPC, ...) takes text and text_pair, both tf.string [batch].
An audio export:
  serving_default   audio_bytes: tf.string [batch] (WAV files; another sample rate than the
                    model's is an error) -> decoded, cut or padded to the clip length in-graph
  serving_waveforms waveforms: tf.float32 [batch, samples] in [-1, 1] and lengths: tf.int32
                    [batch] (the real samples of each row)
Every signature returns probabilities (float32 [batch, classes]), class_id (int64 [batch]) and
class_name (string [batch]); class names come from assets/labels.txt, and the run's config,
dataset facts and metrics from assets.extra/zoo.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data import preprocess
from zoo.data.datasets import DatasetInfo

LABELS, META = "labels.txt", "zoo.json"
TEXT_INPUTS = ("text", "text_pair")  # serving_default inputs of text exports (pairs take both)
RAW_SIGNATURE = {"image": "serving_images", "audio": "serving_waveforms", "text": "serving_default"}


def raw_batch(info: DatasetInfo, examples) -> np.ndarray:
    """Examples as ``load_split`` yields them (uint8 images, int16 clips, strings or pairs) ->
    one batch."""
    if info.modality == "text":
        return np.array(list(examples), dtype=object)
    return np.stack(list(examples))


def signature_inputs(info: DatasetInfo, name: str, batch) -> dict:
    """The keyword inputs of signature ``name`` for a raw batch (what clients send)."""
    if info.modality == "text":
        return text_inputs(info, batch)
    if name == "serving_default":
        encode = encode_png if info.modality == "image" else encode_wav
        key = "image_bytes" if info.modality == "image" else "audio_bytes"
        return {key: tf.constant(encode(np.asarray(batch), info))}
    if info.modality == "image":
        return {"images": tf.convert_to_tensor(batch, tf.uint8)}
    batch = np.asarray(batch)
    return {
        "waveforms": tf.constant(batch.astype(np.float32) / preprocess.AUDIO_SCALE),
        "lengths": tf.fill([len(batch)], batch.shape[1]),
    }


def text_inputs(info: DatasetInfo, batch) -> dict:
    """Strings (batch,), or sentence pairs (batch, 2), as serving_default's keyword inputs."""
    batch = tf.convert_to_tensor(batch, tf.string)
    if not info.pair_key:
        return {"text": batch}
    return {"text": batch[:, 0], "text_pair": batch[:, 1]}


class ServingModule:
    """The model wrapped with its preprocessing and labels: what is served, in memory (runs) and
    in the SavedModel (exports, written through Keras's ``ExportArchive``)."""

    def __init__(self, model, info: DatasetInfo, asset_dir: Path, meta: dict, vectorizer=None):
        asset_dir.mkdir(parents=True, exist_ok=True)
        (asset_dir / LABELS).write_text("\n".join(info.label_names) + "\n", encoding="utf-8")
        self.meta = meta
        self.model = model
        self.vectorizer = vectorizer
        if vectorizer is not None and not vectorizer.built:
            vectorizer(tf.constant([""]))  # builds it (a loaded vocabulary is not built yet)
        self.class_names = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                str(asset_dir / LABELS),
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value="",
        )
        self.modality = info.modality
        if info.modality == "image":
            h, w, c = info.input_shape
            self.size, self.channels = (h, w), c
            self.specs = {
                "serving_default": (
                    self._serve_bytes,
                    [tf.TensorSpec([None], tf.string, name="image_bytes")],
                ),
                "serving_images": (
                    self._serve_images,
                    [tf.TensorSpec([None, None, None, c], tf.uint8, name="images")],
                ),
            }
        elif info.modality == "audio":
            self.rate, self.clip = int(info.sample_rate), int(info.input_shape[0])
            self.specs = {
                "serving_default": (
                    self._serve_audio_bytes,
                    [tf.TensorSpec([None], tf.string, name="audio_bytes")],
                ),
                "serving_waveforms": (
                    self._serve_waveforms,
                    [
                        tf.TensorSpec([None, None], tf.float32, name="waveforms"),
                        tf.TensorSpec([None], tf.int32, name="lengths"),
                    ],
                ),
            }
        else:
            names = TEXT_INPUTS[: 2 if info.pair_key else 1]
            self.specs = {
                "serving_default": (
                    self._serve_text,
                    [tf.TensorSpec([None], tf.string, name=n) for n in names],
                )
            }
        self.info = info
        self.functions = {name: tf.function(*spec) for name, spec in self.specs.items()}

    def raw(self, batch) -> dict:
        """Outputs for a raw batch (uint8 images, int16 clips, strings or pairs), in memory."""
        name = RAW_SIGNATURE[self.modality]
        return self.functions[name](**signature_inputs(self.info, name, batch))

    def encoded(self, blobs: list[bytes]) -> dict:
        """Outputs for encoded files (images, WAV): serving_default."""
        key = "image_bytes" if self.modality == "image" else "audio_bytes"
        return self.functions["serving_default"](**{key: tf.constant(blobs, tf.string)})

    def write(self, path: Path) -> None:
        """Save as a SavedModel. ``ExportArchive`` tracks the variables the endpoints use and the
        lookup tables (labels, vocabulary), which the TF1-style loader of TF Serving and
        saved_model_cli needs; the run's metadata goes to assets.extra/zoo.json."""
        import keras

        archive = keras.export.ExportArchive()
        archive.track(self.model)
        if self.vectorizer is not None:
            archive.track(getattr(self.vectorizer, "trackable", self.vectorizer))
        archive.track(self.class_names)
        for name, (fn, signature) in self.specs.items():
            archive.add_endpoint(name, fn, input_signature=signature)
        archive.write_out(str(path), verbose=False)
        extra = path / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / META).write_text(json.dumps(self.meta, indent=2, default=str) + "\n")

    def signatures(self) -> list[str]:
        return sorted(self.specs)

    def _outputs(self, x):
        probs = tf.nn.softmax(tf.cast(self.model(x, training=False), tf.float32), axis=-1)
        class_id = tf.argmax(probs, axis=-1)
        return {
            "probabilities": probs,
            "class_id": class_id,
            "class_name": self.class_names.lookup(class_id),
        }

    def _serve_bytes(self, image_bytes):
        spec = tf.TensorSpec([*self.size, self.channels], tf.uint8)
        images = tf.map_fn(
            lambda b: preprocess.decode_image(b, self.channels, self.size),
            image_bytes,
            fn_output_signature=spec,
        )
        return self._outputs(preprocess.prepare_images(images))

    def _serve_images(self, images):
        same = tf.reduce_all(tf.shape(images)[1:3] == tf.constant(self.size))
        images = tf.cond(same, lambda: images, lambda: preprocess.resize_image(images, self.size))
        return self._outputs(preprocess.prepare_images(images))

    def _serve_audio_bytes(self, audio_bytes):
        spec = tf.TensorSpec([self.clip], tf.int16)
        clips = tf.map_fn(
            lambda b: preprocess.decode_wav(b, self.rate, self.clip),
            audio_bytes,
            fn_output_signature=spec,
        )
        return self._outputs(preprocess.prepare_audio(clips))

    def _serve_waveforms(self, waveforms, lengths):
        spec = tf.TensorSpec([self.clip], tf.int16)
        clips = tf.map_fn(
            lambda wl: preprocess.fit_length(preprocess.to_int16(wl[0][: wl[1]]), self.clip),
            (waveforms, lengths),
            fn_output_signature=spec,
        )
        return self._outputs(preprocess.prepare_audio(clips))

    def _serve_text(self, text, text_pair=None):
        ids = self.vectorizer(text) if text_pair is None else self.vectorizer(text, text_pair)
        return self._outputs(ids)


def load_saved_model(path):
    """``tf.saved_model.load`` with tensorflow-text's ops registered (BERT exports tokenize
    with them)."""
    try:
        import tensorflow_text  # noqa: F401  (registers the WordPiece ops)
    except ImportError:
        pass
    return tf.saved_model.load(str(path))


def compare(expected: dict, got: dict, atol: float = 1e-4) -> dict[str, Any]:
    p1, p2 = np.asarray(expected["probabilities"]), np.asarray(got["probabilities"])
    return {
        "examples": len(p1),
        "max_abs_diff": float(np.abs(p1 - p2).max()) if len(p1) else 0.0,
        "same_class": bool((p1.argmax(-1) == np.asarray(got["class_id"])).all()),
        "ok": bool(
            len(p1)
            and np.allclose(p1, p2, atol=atol)
            and (p1.argmax(-1) == np.asarray(got["class_id"])).all()
        ),
    }


def encode_png(images: np.ndarray, info: DatasetInfo | None = None) -> list[bytes]:
    return [tf.io.encode_png(img).numpy() for img in images]


def encode_wav(clips: np.ndarray, info: DatasetInfo) -> list[bytes]:
    """int16 clips -> 16-bit WAV files at the dataset's sample rate."""
    waves = tf.cast(clips, tf.float32) / preprocess.AUDIO_SCALE
    return [tf.audio.encode_wav(w[:, None], info.sample_rate).numpy() for w in waves]
