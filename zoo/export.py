"""SavedModel export in the TF Serving layout, and loading of runs/exports as prediction targets.

Signatures of an image export:
  serving_default   image_bytes: tf.string [batch] (encoded JPEG/PNG/GIF/BMP; `_bytes` lets TF
                    Serving's REST API take base64) -> decoded and resized in-graph
  serving_images    images: tf.uint8 [batch, height, width, channels], any size
A text export has serving_default with text: tf.string [batch], tokenized in-graph; a
sentence-pair export (GLUE MRPC, ...) takes text and text_pair, both tf.string [batch].
Every signature returns probabilities (float32 [batch, classes]), class_id (int64 [batch]) and
class_name (string [batch]); class names come from assets/labels.txt, and the run's config,
dataset facts and metrics from assets.extra/zoo.json.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo import preprocess
from zoo.data import DatasetInfo
from zoo.errors import ZooError

LABELS, META = "labels.txt", "zoo.json"
TEXT_INPUTS = ("text", "text_pair")  # serving_default inputs of text exports (pairs take both)


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
            self.serve_bytes = tf.function(*self.specs["serving_default"])
            self.serve_images = tf.function(*self.specs["serving_images"])
        else:
            names = TEXT_INPUTS[: 2 if info.pair_key else 1]
            self.specs = {
                "serving_default": (
                    self._serve_text,
                    [tf.TensorSpec([None], tf.string, name=n) for n in names],
                )
            }
            self.serve_text = tf.function(*self.specs["serving_default"])

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

    def _serve_text(self, text, text_pair=None):
        ids = self.vectorizer(text) if text_pair is None else self.vectorizer(text, text_pair)
        return self._outputs(ids)


# ---------------------------------------------------------------------------------------------
# Targets: a run directory or an export, used the same way by eval and predict
# ---------------------------------------------------------------------------------------------


class Target:
    """Something that predicts: ``raw(batch)`` takes uint8 images, or strings (batch,) / sentence
    pairs (batch, 2), and gives outputs."""

    kind = "target"

    def __init__(self, path: Path, info: DatasetInfo, meta: dict, fns: dict):
        self.path, self.info, self.meta, self._fns = path, info, meta, fns

    @property
    def config(self) -> dict:
        return self.meta.get("config", {})

    def raw(self, batch) -> dict:
        if self.info.modality == "image":
            return self._fns["images"](images=tf.convert_to_tensor(batch, tf.uint8))
        return self._fns["text"](batch)

    def encoded(self, blobs: list[bytes]) -> dict:
        return self._fns["bytes"](image_bytes=tf.constant(blobs, tf.string))


def load_run_target(run_path: Path) -> Target:
    from zoo import runs as runs_lib

    run = runs_lib.open_run(run_path)
    assets = tempfile.TemporaryDirectory(prefix="zoo-assets-")  # removed with the target
    module = serving_module_for_run(run, Path(assets.name))
    info = module_info(run)
    fns = {
        "images": getattr(module, "serve_images", None),
        "bytes": getattr(module, "serve_bytes", None),
        "text": lambda batch: module.serve_text(**text_inputs(info, batch)),
    }
    target = Target(run.path, info, run_meta(run), fns)
    target.kind = "run"
    target._assets = assets
    return target


def module_info(run) -> DatasetInfo:
    from zoo import runs as runs_lib

    return DatasetInfo.from_json(runs_lib.read_json(run.file(runs_lib.DATASET)))


def run_meta(run) -> dict:
    from zoo import runs as runs_lib

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

    import zoo.models  # noqa: F401  (registers the custom layers)
    from zoo import runs as runs_lib

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
    from zoo.distribute import global_policy

    with global_policy("float32"):  # for sublayers made at build time
        clone = keras.saving.deserialize_keras_object(fixed)
    clone.set_weights(model.get_weights())
    return clone


def serving_module_for_run(run, asset_dir: Path) -> ServingModule:
    from zoo.preprocess import load_text_encoder

    info = module_info(run)
    model = as_float32(load_keras_model(run))
    vectorizer = load_text_encoder(run.preprocessor_dir) if info.modality == "text" else None
    return ServingModule(model, info, asset_dir, run_meta(run), vectorizer)


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


def load_saved_model(path):
    """``tf.saved_model.load`` with tensorflow-text's ops registered (BERT exports tokenize
    with them)."""
    try:
        import tensorflow_text  # noqa: F401  (registers the WordPiece ops)
    except ImportError:
        pass
    return tf.saved_model.load(str(path))


def load_export_target(path: Path) -> Target:
    path = find_export(path)
    try:
        loaded = load_saved_model(path)
    except Exception as e:  # corrupted protobufs and missing variables raise many types
        raise ZooError(
            f"cannot load SavedModel {path} ({type(e).__name__}): re-export it"
        ) from None
    meta_file = path / "assets.extra" / META
    if not meta_file.exists():
        raise ZooError(f"{path} is a SavedModel but not a zoo export (no assets.extra/{META})")
    meta = json.loads(meta_file.read_text())
    sigs = loaded.signatures
    info = DatasetInfo.from_json(meta["dataset"])
    fns = {"images": sigs.get("serving_images"), "text": None, "bytes": None}
    if info.modality == "image":
        fns["bytes"] = sigs["serving_default"]
    else:
        fns["text"] = lambda batch: sigs["serving_default"](**text_inputs(info, batch))
    target = Target(path, info, meta, fns)
    target.kind = "export"
    target._loaded = loaded  # keep the resources alive
    return target


def load_tflite_target(path: Path) -> Target:
    """A TFLite export: its directory or its model.tflite."""
    from zoo import tflite
    from zoo.preprocess import load_text_encoder

    folder = path.parent if path.is_file() else path
    meta_file = folder / "zoo.json"
    if not meta_file.exists():
        raise ZooError(f"{path} is not a zoo TFLite export (no zoo.json beside model.tflite)")
    meta = json.loads(meta_file.read_text())
    info = DatasetInfo.from_json(meta["dataset"])
    interpreter = tflite.Interpreter(folder / tflite.MODEL_FILE)
    vectorizer = load_text_encoder(folder / "preprocessor") if info.modality == "text" else None
    prep = tflite.preprocess_fn(info, vectorizer)

    def run(x):
        probs = interpreter(prep(np.asarray(x)))
        class_id = probs.argmax(-1)
        return {
            "probabilities": probs,
            "class_id": class_id,
            "class_name": np.array([info.label_names[i] for i in class_id]),
        }

    def from_bytes(blobs):
        size, channels = tuple(info.input_shape[:2]), info.input_shape[2]
        return run(np.stack([preprocess.decode_image(b, channels, size).numpy() for b in blobs]))

    fns = {
        "images": lambda images: run(images),
        "text": run,  # the tokenizer takes strings (batch,) and pairs (batch, 2) alike
        "bytes": lambda image_bytes: from_bytes(image_bytes.numpy()),
    }
    target = Target(folder, info, meta, fns)
    target.kind = "tflite"
    return target


def load_target(path: str | Path) -> Target:
    """A run directory, a SavedModel export (version dir, or model dir for the newest) or a
    TFLite export (its directory or model.tflite)."""
    p = Path(path)
    if not p.exists():
        raise ZooError(f"{p} does not exist: pass a run directory (runs/NAME) or an export")
    if (p / "config.json").exists():
        return load_run_target(p)
    if p.suffix == ".tflite" or (p / "model.tflite").exists():
        return load_tflite_target(p)
    return load_export_target(p)


# ---------------------------------------------------------------------------------------------
# Writing an export
# ---------------------------------------------------------------------------------------------


def next_version(model_dir: Path) -> int:
    versions = (
        [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    )
    return max(versions, default=0) + 1


def write_export(module: ServingModule, final: Path, check=None) -> Any:
    """Save to a hidden temporary directory, optionally ``check`` it, then rename: TF Serving
    never sees half an export or one that failed verification. Returns what ``check`` returned."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        module.write(tmp)
        result = check(tmp) if check else None
        if final.exists():
            raise ZooError(f"export {final} appeared while writing; nothing was overwritten")
        tmp.rename(final)
        return result
    except OSError as e:
        raise ZooError(
            f"cannot write export {final}: {e.strerror or e} (is the disk full?)"
        ) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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


def encode_png(images: np.ndarray) -> list[bytes]:
    return [tf.io.encode_png(img).numpy() for img in images]
