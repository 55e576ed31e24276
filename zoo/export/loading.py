"""Prediction targets: a run directory or an export (SavedModel, TFLite, ONNX, OpenVINO), loaded as one
``Target`` that ``zoo eval`` and ``zoo predict`` use the same way, and ``predict`` itself.

Also what turns a run into what is served (its Keras model in float32, its dataset facts and
metadata, its ``ServingModule``), which the SavedModel and TFLite exports share.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data import preprocess
from zoo.data.datasets import DatasetInfo
from zoo.errors import ZooError
from zoo.export import litert
from zoo.export.serving import (
    META,
    RAW_SIGNATURE,
    ServingModule,
    load_saved_model,
    signature_inputs,
)
from zoo.runs import rundir as runs_lib


class Target:
    """Something that predicts: ``raw(batch)`` takes uint8 images, or strings (batch,) / sentence
    pairs (batch, 2), and gives outputs. ``kind`` says what it is (run, export, tflite); ``keep``
    lives as long as the target (a temporary asset folder, the loaded SavedModel's resources)."""

    def __init__(
        self,
        path: Path,
        info: DatasetInfo,
        meta: dict,
        fns: dict,
        kind: str = "target",
        keep: Any = None,
    ):
        self.path, self.info, self.meta, self._fns = path, info, meta, fns
        self.kind, self._keep = kind, keep

    @property
    def config(self) -> dict:
        return self.meta.get("config", {})

    def raw(self, batch) -> dict:
        """Outputs for a raw batch: uint8 images, int16 clips, strings (batch,) or pairs."""
        return self._fns["raw"](batch)

    def encoded(self, blobs: list[bytes]) -> dict:
        """Outputs for encoded files: images (JPEG, PNG, ...) or WAV audio."""
        return self._fns["bytes"](blobs)


# ---------------------------------------------------------------------------------------------
# A run: its model, dataset facts and metadata, served in memory
# ---------------------------------------------------------------------------------------------


def load_run_target(run_path: Path) -> Target:
    run = runs_lib.open_run(run_path)
    assets = tempfile.TemporaryDirectory(prefix="zoo-assets-")  # removed with the target
    module = serving_module_for_run(run, Path(assets.name))
    fns = {"raw": module.raw, "bytes": module.encoded}
    return Target(run.path, module.info, run_meta(run), fns, kind="run", keep=assets)


def module_info(run) -> DatasetInfo:
    return DatasetInfo.read(run.file(runs_lib.DATASET), "delete the run directory and retrain")


def run_meta(run) -> dict:
    metrics = run.file(runs_lib.METRICS)
    return {
        "run": str(run.path),
        "config": run.config(),
        "dataset": runs_lib.read_json(run.file(runs_lib.DATASET)),
        "record": run.record(),
        "metrics": runs_lib.read_json(metrics) if metrics.exists() else None,
    }


def load_keras_model(run):
    import keras

    from zoo.models import registry

    registry.load_families()  # registers the custom layers

    path = run.file(runs_lib.MODEL)
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as e:  # a truncated or foreign file: h5py, zipfile and Keras errors differ
        raise ZooError(
            f"cannot load {path}: it is corrupted or not a zoo model "
            f"({type(e).__name__}); retrain or restore it"
        ) from None


MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


def as_float32(model):
    """``model`` computing in float32: exports run on any CPU or GPU (bfloat16 is slow without
    hardware support) and convert to TFLite, which has no bfloat16 kernels. Mixed-precision
    training keeps its variables in float32, so the weights carry over exactly."""
    import keras

    def fix(node):
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy" and (
                node.get("config", {}).get("name") in MIXED_POLICIES
            ):
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    config = keras.saving.serialize_keras_object(model)
    fixed = fix(config)
    if fixed == config:
        return model
    from zoo.training.distribute import global_policy

    with global_policy("float32"):  # for sublayers made at build time
        clone = keras.saving.deserialize_keras_object(fixed)
    clone.set_weights(model.get_weights())
    return clone


def check_finite(model, what: str) -> None:
    """ZooError when ``model`` holds NaN or infinite weights: such a model is never saved as a
    finished run nor exported."""
    for weight in model.weights:
        value = np.asarray(weight.numpy())
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ZooError(
                f"{what} has non-finite weights ({weight.path}); retrain it (lower "
                "--learning-rate or use --precision float32)"
            )


def serving_module_for_run(run, asset_dir: Path, exporting: bool = False) -> ServingModule:
    info = module_info(run)
    model = as_float32(load_keras_model(run))
    if exporting:
        check_finite(model, f"run {run.path}")
    vectorizer = (
        preprocess.load_text_encoder(run.preprocessor_dir) if info.modality == "text" else None
    )
    return ServingModule(model, info, asset_dir, run_meta(run), vectorizer)


# ---------------------------------------------------------------------------------------------
# Exports: a SavedModel (version dir or model dir) or a TFLite folder
# ---------------------------------------------------------------------------------------------


def find_export(path: Path) -> Path:
    """An export version dir; a model dir (saved_models/NAME) resolves to its newest version."""
    if (path / "saved_model.pb").exists():
        return path
    versions = (
        sorted(
            (int(p.name), p)
            for p in path.iterdir()
            if p.name.isdigit() and (p / "saved_model.pb").exists()
        )
        if path.is_dir()
        else []
    )
    if versions:
        return versions[-1][1]
    raise ZooError(f"{path} is neither a run directory nor a SavedModel export")


def _export_meta(meta_file: Path, fix: str) -> tuple[dict, DatasetInfo]:
    """An export's zoo.json and the dataset facts in it, through the one reader."""
    meta = runs_lib.read_json(meta_file, dict, fix)
    return meta, DatasetInfo.from_json(meta.get("dataset"), f"{meta_file} (its dataset)", fix)


def load_export_target(path: Path) -> Target:
    path = find_export(path)
    meta_file = path / "assets.extra" / META
    if not meta_file.exists():
        raise ZooError(f"{path} is a SavedModel but not a zoo export (no assets.extra/{META})")
    meta, info = _export_meta(meta_file, "re-export the run")
    try:
        loaded = load_saved_model(path)
    except Exception as e:  # corrupted protobufs and missing variables raise many types
        raise ZooError(
            f"cannot load SavedModel {path} ({type(e).__name__}): re-export it"
        ) from None
    sigs = loaded.signatures
    raw_name = RAW_SIGNATURE[info.modality]
    key = "image_bytes" if info.modality == "image" else "audio_bytes"
    fns = {
        "raw": lambda batch: sigs[raw_name](**signature_inputs(info, raw_name, batch)),
        "bytes": lambda blobs: sigs["serving_default"](**{key: tf.constant(blobs, tf.string)}),
    }
    return Target(path, info, meta, fns, kind="export", keep=loaded)  # keeps resources alive


def load_tflite_target(path: Path) -> Target:
    """A TFLite export: its directory or its model.tflite."""
    from zoo.export import runtimes

    folder = path.parent if path.is_file() else path
    meta_file = folder / "zoo.json"
    if not meta_file.exists():
        raise ZooError(f"{path} is not a zoo TFLite export (no zoo.json beside model.tflite)")
    meta, info = _export_meta(meta_file, "export the run to TFLite again")
    interpreter = litert.Interpreter(folder / litert.MODEL_FILE)
    vectorizer = (
        preprocess.load_text_encoder(folder / "preprocessor") if info.modality == "text" else None
    )
    prep = litert.preprocess_fn(info, vectorizer)
    # raw: the tokenizer takes strings (batch,) and pairs (batch, 2) alike
    fns = runtimes.target_functions(info, lambda x: interpreter(prep(np.asarray(x))))
    return Target(folder, info, meta, fns, kind="tflite")


def load_target(path: str | Path) -> Target:
    """A run directory, a SavedModel export (version dir, or model dir for the newest), a
    TFLite export (its directory or model.tflite), or an ONNX / OpenVINO export (a version
    folder, the format folder for its newest version, or model.onnx / model.xml)."""
    from zoo.export import runtimes

    p = Path(path)
    if not p.exists():
        raise ZooError(f"{p} does not exist: pass a run directory (runs/NAME) or an export")
    if (p / "config.json").exists():
        return load_run_target(p)
    if p.suffix == ".tflite" or (p / "model.tflite").exists():
        return load_tflite_target(p)
    portable = runtimes.find(p)
    if portable is not None:
        fmt, folder = portable
        info, meta, fns = runtimes.open_export(fmt, folder)
        return Target(folder, info, meta, fns, kind=fmt)
    return load_export_target(p)


# ---------------------------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------------------------


def predict(target: str | Path, inputs: Sequence[str], top_k: int = 5) -> list[dict[str, Any]]:
    """Top-k classes for image files (image targets), WAV files (audio targets) or raw strings
    (text targets); a sentence-pair target reads the strings two at a time, each pair one
    input."""
    if not inputs:
        raise ZooError("nothing to predict: pass image or WAV files, or texts, after the target")
    if top_k < 1:
        raise ZooError(f"--top-k must be at least 1, got {top_k}")
    tgt = load_target(target)
    if tgt.info.modality == "image":
        blobs = [_read_image(p) for p in inputs]
        out = tgt.encoded(blobs)
    elif tgt.info.modality == "audio":
        blobs = [_read_wav(p, tgt.info.sample_rate) for p in inputs]
        out = tgt.encoded(blobs)
    elif tgt.info.pair_key:
        if len(inputs) % 2:
            raise ZooError(
                f"{tgt.path} classifies sentence pairs: pass an even number of texts (first "
                f"text, second text, ...), got {len(inputs)}"
            )
        texts = [_check_text(t) for t in inputs]
        inputs = [[a, b] for a, b in zip(texts[::2], texts[1::2])]
        out = tgt.raw(np.array(inputs, dtype=object))
    else:
        texts = [_check_text(t) for t in inputs]
        out = tgt.raw(texts)
    probs = np.asarray(out["probabilities"])
    names = tgt.info.label_names
    results = []
    for item, p in zip(inputs, probs):
        order = np.argsort(-p)[: min(top_k, len(names))]
        results.append(
            {
                "input": item,
                "top": [
                    {"class": names[i], "class_id": int(i), "probability": float(p[i])}
                    for i in order
                ],
            }
        )
    return results


def _read_image(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise ZooError(f"image file {path} does not exist")
    blob = p.read_bytes()
    try:
        tf.io.decode_image(blob, expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError):
        raise ZooError(
            f"{path} is not an image TensorFlow can decode (JPEG, PNG, GIF, BMP)"
        ) from None
    return blob


def _read_wav(path: str, sample_rate: int) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise ZooError(f"audio file {path} does not exist")
    blob = p.read_bytes()
    try:
        _, rate = tf.audio.decode_wav(blob, desired_channels=1)
    except (tf.errors.InvalidArgumentError, ValueError):
        raise ZooError(f"{path} is not a WAV file TensorFlow can decode (16-bit PCM)") from None
    if int(rate) != sample_rate:
        raise ZooError(
            f"{path} is sampled at {int(rate)} Hz but the model at {sample_rate} Hz; resample it "
            f"(e.g. sox {p.name} -r {sample_rate} out.wav)"
        )
    return blob


def _check_text(text: str) -> str:
    if not text.strip():
        raise ZooError("empty text input: pass the text to classify as an argument")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 arrive as lone surrogates
        raise ZooError("text input is not valid UTF-8: re-encode it as UTF-8") from None
    return text
