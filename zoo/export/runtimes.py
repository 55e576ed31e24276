"""What ONNX and OpenVINO exports share: the graph converted, the input the zoo feeds it, and
reading an export back (``portable.py`` writes them; ``onnx.py`` and ``openvino.py`` convert,
load and run).

The graph is the run's float32 Keras model with its softmax, and for images the [0, 1] scaling:
- images: uint8 (batch, H, W, C) at the model's size. Resizing stays outside (the zoo resizes
  with training's antialiased resize, which ONNX's Resize does not reproduce).
- audio: float32 waveforms (batch, clip samples) in [-1, 1]; the log-mel front end is inside
  where the converter handles it (OpenVINO does; tf2onnx refuses the STFT's real and imaginary
  parts, which is said in one line).
- text: int32 token ids (batch, length); the folder carries ``preprocessor/`` and ``zoo predict``
  tokenizes with it exactly as training did (neither runtime has the zoo's tokenizers).

"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.data import preprocess
from zoo.data.datasets import DatasetInfo
from zoo.errors import ZooError
from zoo.export import litert
from zoo.runs import rundir

MANIFEST = "zoo-export.json"
FORMATS = ("onnx", "openvino")
EXTRA = {"onnx": "onnx", "openvino": "openvino"}  # pip install 'zoo[EXTRA]'
INPUTS = {
    "image": ("images", tf.uint8, "uint8 images (batch, H, W, C) at the model's size"),
    "audio": ("waveforms", tf.float32, "float32 waveforms (batch, samples) in [-1, 1]"),
    "text": ("token_ids", tf.int32, "int32 token ids (batch, length): tokenize with preprocessor/"),
}
TOLERANCE = 1e-4  # probabilities of the runtime against Keras in float32


def backend(fmt: str):
    """The module of ``fmt`` (onnx / openvino); one line naming the pip install when its
    packages are missing."""
    if fmt not in FORMATS:
        raise ZooError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"zoo.export.{fmt}")
    missing = module.missing()
    if missing:
        raise ZooError(
            f"--format {fmt} needs {missing}, which is not installed: "
            f"pip install 'zoo[{EXTRA[fmt]}]'"
        )
    return module


def graph(model, info: DatasetInfo, jit_compile: bool = False):
    """(tf.function, its input TensorSpec): raw input -> probabilities."""
    name, dtype, _ = INPUTS[info.modality]
    spec = tf.TensorSpec([None, *info.input_shape], dtype, name=name)

    def probabilities(x):
        if info.modality == "image":
            x = preprocess.prepare_images(x)
        return tf.nn.softmax(tf.cast(model(x, training=False), tf.float32), axis=-1)

    return tf.function(probabilities, input_signature=[spec], jit_compile=jit_compile), spec


def client_prep(info: DatasetInfo, vectorizer=None):
    """raw batch (uint8 images of any size / int16 clips / strings or pairs) -> the graph's
    input, as the zoo prepares it for these runtimes."""
    if info.modality != "image":
        return litert.preprocess_fn(info, vectorizer)
    size = tuple(info.input_shape[:2])

    def images(batch):
        batch = tf.convert_to_tensor(batch, tf.uint8)
        if tuple(batch.shape[1:3]) != size:
            batch = preprocess.resize_image(batch, size)
        return batch.numpy()

    return images


# ---------------------------------------------------------------------------------------------
# Loading an export back as a prediction target
# ---------------------------------------------------------------------------------------------


def find(path: Path) -> tuple[str, Path] | None:
    """(format, version folder) when ``path`` is an ONNX or OpenVINO export (a version folder,
    the format folder for its newest version, or the model file itself), else None."""
    folder = path.parent if path.is_file() else path
    if path.is_file() and path.suffix not in (".onnx", ".xml"):
        return None
    if folder.name.removesuffix("-int8") in FORMATS and folder.is_dir():
        versions = sorted((int(p.name), p) for p in folder.iterdir() if p.name.isdigit())
        if not versions:
            raise ZooError(f"{folder} holds no export versions")
        folder = versions[-1][1]
    manifest = folder / MANIFEST
    if not manifest.exists():
        if path.suffix in (".onnx", ".xml"):
            raise ZooError(
                f"{path} is not a zoo export (no {MANIFEST} beside it); export the run again"
            )
        return None
    meta = rundir.read_json(manifest, dict, "export the run again")
    fmt = meta.get("format")
    if fmt not in FORMATS:
        raise ZooError(f"{manifest}: unknown format {fmt!r}; export the run again")
    return fmt, folder


def open_export(fmt: str, folder: Path) -> tuple[DatasetInfo, dict, dict[str, Any]]:
    """(dataset facts, manifest, {"raw": fn, "bytes": fn}) of an export, run through its own
    runtime: what ``loading.Target`` wraps."""
    runtime = backend(fmt)
    meta = rundir.read_json(folder / MANIFEST, dict, "export the run again")
    info = DatasetInfo.from_json(meta.get("dataset"), f"{folder / MANIFEST} (its dataset)",
                                 "export the run again")  # fmt: skip
    for file in meta.get("files") or {}:
        if not (folder / file).is_file():
            raise ZooError(f"{folder / file} is missing; export the run again")
    run_model = runtime.load(folder)
    vectorizer = (
        preprocess.load_text_encoder(folder / "preprocessor") if info.modality == "text" else None
    )
    prep = client_prep(info, vectorizer)

    return info, meta, target_functions(info, lambda batch: run_model(prep(batch)))


def target_functions(info: DatasetInfo, probabilities) -> dict[str, Any]:
    """A ``loading.Target``'s functions for a runtime outside TensorFlow (TFLite, ONNX,
    OpenVINO): ``probabilities(raw batch)`` -> numpy; encoded files are decoded and resized as in
    training first."""

    def run(batch):
        probs = np.asarray(probabilities(batch))
        class_id = probs.argmax(-1)
        names = np.array([info.label_names[i] for i in class_id])
        return {"probabilities": probs, "class_id": class_id, "class_name": names}

    def from_bytes(blobs):
        if info.modality == "audio":
            rate, clip = info.sample_rate, info.input_shape[0]
            return run(np.stack([preprocess.decode_wav(b, rate, clip).numpy() for b in blobs]))
        size, channels = tuple(info.input_shape[:2]), info.input_shape[2]
        return run(np.stack([preprocess.decode_image(b, channels, size).numpy() for b in blobs]))

    return {"raw": run, "bytes": from_bytes}
