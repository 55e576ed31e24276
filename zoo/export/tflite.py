"""TFLite (LiteRT) export with post-training quantization, checked through the interpreter.

Conversion of the Keras model to a .tflite flatbuffer and ``export_tflite``, which writes
ROOT/NAME/tflite-QUANTIZE/ from a run and compares the file with the float SavedModel on the
test split; ``zoo.export.litert`` runs the file and prepares its input.
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
from rich.console import Console

from zoo.data import datasets, pipelines
from zoo.data.datasets import DatasetInfo
from zoo.data.preprocess import load_text_encoder
from zoo.errors import ZooError
from zoo.export import loading
from zoo.export.litert import MODEL_FILE, QUANTIZE, REPORT_FILE, Interpreter, preprocess_fn
from zoo.export.serving import (
    RAW_SIGNATURE,
    ServingModule,
    load_saved_model,
    raw_batch,
    signature_inputs,
)
from zoo.runs import rundir
from zoo.runs.progress import default_console

# The .tflite model's input, as zoo.json states it: (float, with --int8-io)
INPUTS = {
    "image": ("float32 images in [0, 1]", "uint8 pixels"),
    "audio": ("float32 waveforms in [-1, 1] of the clip length", "int8 waveforms (scaled)"),
    "text": ("int32 token ids", "int32 token ids"),
}


def _saved_model(model, info: DatasetInfo, path: Path) -> None:
    """Keras 3's own route to TFLite: ExportArchive -> SavedModel -> from_saved_model."""
    import keras

    dtype = tf.int32 if info.modality == "text" else tf.float32
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
    if quantize == "int8" and info.modality == "audio":
        # Measured here: the DS-CNN on spoken_digit fell from 98.8% to 20.0% in full-integer
        # int8 (and about as far with float fallback); the mel power spectrum spans decades
        # that 8-bit activations cannot hold, and TFLite has no 16x8 kernel for its FFT.
        raise ZooError(
            "int8 quantization of the audio front end (FFT, mel power) loses the spectrum's "
            "range (measured: 98.8% -> 20%); use --quantize float16 (or dynamic: int8 weights)"
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
            kind = {"image": tf.uint8, "audio": tf.int8}.get(info.modality, tf.int32)
            converter.inference_input_type = kind
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


def write(out_dir: Path, content: bytes, info: DatasetInfo, meta: dict, run) -> None:
    """model.tflite + labels.txt + zoo.json (+ the vocabulary for text), written atomically."""
    if out_dir.exists():
        raise ZooError(f"{out_dir} already exists; nothing was overwritten: pass another --name")

    def fill(tmp: Path) -> None:
        (tmp / MODEL_FILE).write_bytes(content)
        (tmp / "labels.txt").write_text("\n".join(info.label_names) + "\n", encoding="utf-8")
        (tmp / "zoo.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        if info.modality == "text":
            shutil.copytree(run.preprocessor_dir, tmp / "preprocessor")

    rundir.write_dir_atomic(out_dir, fill)


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


# ---------------------------------------------------------------------------------------------
# Export a run and check the file against the float SavedModel
# ---------------------------------------------------------------------------------------------


def export_tflite(
    run_dir: str | Path,
    root: str | Path = "saved_models",
    name: str | None = None,
    quantize: str = "none",
    calibration_examples: int = 200,
    int8_io: bool = False,
    eval_examples: int | None = None,
    select_tf_ops: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Write ROOT/NAME/tflite-QUANTIZE/ (model.tflite, labels, zoo.json, report.json) and check the
    file against the float SavedModel on the test split through the TFLite interpreter."""
    console = default_console(console)
    if quantize not in QUANTIZE:
        raise ZooError(f"unknown --quantize {quantize!r}; choose one of {', '.join(QUANTIZE)}")
    if calibration_examples < 1 or (eval_examples is not None and eval_examples < 1):
        raise ZooError("--calibration-examples and --eval-examples must be at least 1")
    run = rundir.open_run(run_dir)
    name = name or run.name
    rundir.check_run_name(name)
    out_dir = Path(root) / name / f"tflite-{quantize}"
    rundir.check_output_dir(out_dir.parent, "--output")
    if out_dir.exists():
        raise ZooError(f"{out_dir} already exists; nothing was overwritten: pass another --name")
    info = loading.module_info(run)
    builder = datasets.get_builder(info.name, run.config().get("data_dir"))
    if not datasets.is_available(builder):
        raise ZooError(f"the TFLite check needs {info.name}'s splits, which are not prepared here")
    model = loading.as_float32(loading.load_keras_model(run))
    loading.check_finite(model, f"run {run.path}")
    vectorizer = load_text_encoder(run.preprocessor_dir) if info.modality == "text" else None
    prep = preprocess_fn(info, vectorizer)

    calibration = None  # int8 calibrates on training examples
    if quantize == "int8":
        calibration = _calibration(builder, info, prep, calibration_examples)
    console.print(f"converting {run.name} to TFLite (quantize {quantize})...")
    content = convert(model, info, quantize, calibration, int8_io, select_tf_ops)
    interpreter = Interpreter(content)

    raw_x, labels = _test_examples(builder, info, eval_examples)
    report, sm_bytes = _check(
        run, model, info, vectorizer, interpreter, prep, raw_x, labels, console
    )
    report.update(
        quantize=quantize,
        int8_io=int8_io,
        tflite_bytes=len(content),
        savedmodel_bytes=sm_bytes,
        size_ratio=round(sm_bytes / len(content), 2),
        split=info.test_split,
    )
    meta = {
        **loading.run_meta(run),
        "tflite": report,
        "input": INPUTS[info.modality][int(bool(int8_io))],
    }
    write(out_dir, content, info, meta, run)
    rundir.write_json(out_dir / REPORT_FILE, report)
    console.print(f"exported {run.name} -> {out_dir / MODEL_FILE}")
    return {"export_dir": str(out_dir), "file": str(out_dir / MODEL_FILE), **report}


def _calibration(builder, info: DatasetInfo, prep, examples: int) -> list:
    """``examples`` training inputs, preprocessed, for int8 calibration."""
    raw = pipelines.load_split(builder, info, info.train_split, role="train", smoke=False, seed=0)
    return list(prep(raw_batch(info, (x for x, _ in raw.take(examples).as_numpy_iterator()))))


def _test_examples(builder, info: DatasetInfo, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Raw test inputs (uint8 images / strings) and their labels, the first ``limit`` if given."""
    test = pipelines.load_split(builder, info, info.test_split, role="test", smoke=False, seed=0)
    if limit:
        test = test.take(limit)
    pairs = list(test.as_numpy_iterator())
    return raw_batch(info, (x for x, _ in pairs)), np.array([y for _, y in pairs], dtype=np.int64)


def _check(
    run, model, info, vectorizer, interpreter, prep, raw_x, labels, console
) -> tuple[dict[str, Any], int]:
    """``compare``'s report of ``interpreter`` against the float SavedModel, written to a
    temporary folder, on the raw test examples; and the SavedModel's size in bytes."""
    with tempfile.TemporaryDirectory(prefix="zoo-tflite-") as tmp:
        module = ServingModule(model, info, Path(tmp) / "assets", loading.run_meta(run), vectorizer)
        module.write(Path(tmp) / "sm")
        sm_bytes = directory_size(Path(tmp) / "sm")
        sig = load_saved_model(str(Path(tmp) / "sm")).signatures
        name = RAW_SIGNATURE[info.modality]
        ref = lambda x: sig[name](**signature_inputs(info, name, x))["probabilities"]
        console.print(f"checking on {len(labels)} test examples through the interpreter...")
        return compare(interpreter, prep, ref, raw_x, labels), sm_bytes
