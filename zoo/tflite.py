"""TFLite (LiteRT) export with post-training quantization, checked through the interpreter.

The .tflite model takes the *preprocessed* input: float32 images in [0, 1] of the model's size
(or, with ``--int8-io``, raw uint8/int8 pixels) and int32 token ids for text. The zoo applies
the same preprocessing as training before calling the interpreter (resize and scale for images;
the run's TextVectorization vocabulary, shipped beside the file, for text): TFLite's builtin
ops have no string tokenizer, so keeping it outside keeps the file runnable on plain LiteRT.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from zoo import preprocess
from zoo.data import DatasetInfo
from zoo.errors import ZooError

QUANTIZE = ("none", "dynamic", "float16", "int8")
MODEL_FILE, REPORT_FILE = "model.tflite", "report.json"


def _saved_model(model, info: DatasetInfo, path: Path) -> None:
    """Keras 3's own route to TFLite: ExportArchive -> SavedModel -> from_saved_model."""
    import keras

    dtype = tf.float32 if info.modality == "image" else tf.int32
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda x: tf.nn.softmax(tf.cast(model(x, training=False), tf.float32)),
        input_signature=[tf.TensorSpec([1, *info.input_shape], dtype, name="inputs")],
    )
    archive.write_out(str(path), verbose=False)


def convert(
    model,
    info: DatasetInfo,
    quantize: str,
    calibration: Iterable | None = None,
    int8_io: bool = False,
    select_tf_ops: bool = False,
) -> bytes:
    """The model as a .tflite flatbuffer; converter failures become one-line ZooErrors."""
    if quantize not in QUANTIZE:
        raise ZooError(f"unknown --quantize {quantize!r}; choose one of {', '.join(QUANTIZE)}")
    recurrent = [
        layer.name
        for layer in model._flatten_layers()
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
    ]
    if quantize == "int8" and recurrent:
        # Seen here with TF 2.21: full-integer calibration of an LSTM crashes the converter.
        raise ZooError(
            f"int8 quantization does not support the recurrent layer {recurrent[0]} "
            "(TFLite's converter crashes on it); use --quantize dynamic or float16"
        )
    tmp = tempfile.mkdtemp(prefix="zoo-tflite-sm-")
    try:
        _saved_model(model, info, Path(tmp))
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["serve"])
        return _convert(converter, info, quantize, calibration, int8_io, select_tf_ops)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _convert(converter, info, quantize, calibration, int8_io, select_tf_ops) -> bytes:
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if calibration is None:
            raise ZooError("int8 quantization needs calibration examples from the training split")
        examples = list(calibration)
        converter.representative_dataset = lambda: ([x[None]] for x in examples)
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.uint8 if info.modality == "image" else tf.int32
            converter.inference_output_type = tf.uint8
    if select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        converter._experimental_lower_tensor_list_ops = False
    converter.target_spec.supported_ops = ops
    try:
        return converter.convert()
    except Exception as e:  # ConverterError and friends: summarise the first unsupported op
        raise ZooError(_explain(str(e), select_tf_ops)) from None


def _explain(message: str, select_tf_ops: bool) -> str:
    ops = sorted(set(re.findall(r"'(tf\.[A-Za-z0-9]+)'", message)))
    layers = sorted(set(re.findall(r'"([A-Za-z0-9_]+)(?:_\d+)?/[^"]*"', message)))[:3]
    where = f" in layer {', '.join(layers)}" if layers else ""
    what = f"ops {', '.join(ops[:4])}" if ops else "an op"
    hint = (
        "try --quantize none or dynamic"
        if select_tf_ops
        else "retry with --select-tf-ops (needs the Flex delegate at run time), or --quantize none"
    )
    first = message.strip().splitlines()[0][:160] if message.strip() else "converter error"
    return f"the TFLite converter cannot handle {what}{where} ({first}); {hint}"


class Interpreter:
    """Runs a .tflite file one example at a time, handling quantized inputs and outputs."""

    def __init__(self, content: bytes | str | Path):
        if isinstance(content, (str, Path)):
            content = Path(content).read_bytes()
        try:
            self.interpreter = _interpreter_class()(model_content=content, num_threads=2)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ZooError(
                f"cannot load the TFLite model ({str(e).splitlines()[0][:120]}); "
                "it may need --select-tf-ops or be corrupted"
            ) from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for x in np.asarray(batch):
            self.interpreter.set_tensor(self.input["index"], self._quantize(x[None]))
            self.interpreter.invoke()
            out.append(self._dequantize(self.interpreter.get_tensor(self.output["index"]))[0])
        return np.stack(out) if out else np.zeros((0, 0), np.float32)

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        scale, zero = self.input["quantization"]
        if dtype in (np.uint8, np.int8) and scale:
            info = np.iinfo(dtype)
            return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        return x.astype(dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        scale, zero = self.output["quantization"]
        if self.output["dtype"] in (np.uint8, np.int8) and scale:
            return (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)


def _interpreter_class():
    """LiteRT's interpreter (ai-edge-litert), the maintained successor of tf.lite.Interpreter,
    which TensorFlow now marks deprecated; tf.lite's where LiteRT is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter
    except ImportError:
        return tf.lite.Interpreter
    return LiteRTInterpreter


def preprocess_fn(info: DatasetInfo, vectorizer=None):
    """raw batch (uint8 images of any size / strings) -> the .tflite model's input."""
    if info.modality == "image":
        size = tuple(info.input_shape[:2])

        def images(batch):
            batch = tf.convert_to_tensor(batch, tf.uint8)
            if tuple(batch.shape[1:3]) != size:
                batch = preprocess.resize_image(batch, size)
            return preprocess.prepare_images(batch).numpy()

        return images
    return lambda batch: vectorizer(tf.convert_to_tensor(batch, tf.string)).numpy().astype(np.int32)


def write(out_dir: Path, content: bytes, info: DatasetInfo, meta: dict, run) -> None:
    """model.tflite + labels.txt + zoo.json (+ the vocabulary for text), written atomically."""
    if out_dir.exists():
        raise ZooError(f"{out_dir} already exists; nothing was overwritten: pass another --name")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        (tmp / MODEL_FILE).write_bytes(content)
        (tmp / "labels.txt").write_text("\n".join(info.label_names) + "\n", encoding="utf-8")
        (tmp / "zoo.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        if info.modality == "text":
            shutil.copytree(run.preprocessor_dir, tmp / "preprocessor")
        tmp.rename(out_dir)
    except OSError as e:
        raise ZooError(f"cannot write {out_dir}: {e.strerror or e} (is the disk full?)") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def compare(
    interpreter: Interpreter, prep, savedmodel_fn, raw: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """Accuracy of the .tflite file and of the float SavedModel on the same raw examples, their
    agreement (share of identical top-1 classes), and the latency per example of each, one
    example at a time as on a device, preprocessing included on both sides."""
    lite, ref, lite_s, ref_s = [], [], 0.0, 0.0
    for i in range(len(raw)):
        t = time.perf_counter()
        lite.append(interpreter(prep(raw[i : i + 1]))[0])
        lite_s += time.perf_counter() - t
        t = time.perf_counter()
        ref.append(np.asarray(savedmodel_fn(raw[i : i + 1]))[0])
        ref_s += time.perf_counter() - t
    lite, ref, n = np.stack(lite), np.stack(ref), max(1, len(raw))
    return {
        "examples": len(labels),
        "tflite_accuracy": float((lite.argmax(1) == labels).mean()),
        "savedmodel_accuracy": float((ref.argmax(1) == labels).mean()),
        "agreement": float((lite.argmax(1) == ref.argmax(1)).mean()),
        "tflite_ms_per_example": round(1000 * lite_s / n, 4),
        "savedmodel_ms_per_example": round(1000 * ref_s / n, 4),
    }


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
