"""ONNX and OpenVINO exports of a run: one graph (``runtimes.graph``), converted by the runtime's
own converter, checked by the runtime itself, written to ROOT/NAME/FORMAT/VERSION/ (the layout
Triton and OpenVINO Model Server watch) with a ``zoo-export.json`` manifest: classes, input,
preprocessing, the source run, the sha256 of every file, and the check's figures."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data import datasets, pipelines, preprocess
from zoo.data.datasets import DatasetInfo
from zoo.errors import ZooError
from zoo.export import loading
from zoo.export.runtimes import INPUTS, MANIFEST, TOLERANCE, backend, client_prep, graph
from zoo.export.serving import raw_batch
from zoo.runs import rundir
from zoo.runs.progress import default_console

INT8_MAX_DROP = 0.01  # int8 may cost at most one point of test accuracy unless --force


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export(
    run_dir: str | Path,
    fmt: str,
    root: str | Path = "saved_models",
    name: str | None = None,
    version: int | None = None,
    verify: bool = False,
    console=None,
    quantize: str = "none",
    calibration_examples: int = 300,
    eval_examples: int | None = None,
    max_drop: float = INT8_MAX_DROP,
    force: bool = False,
) -> dict[str, Any]:
    """Write ROOT/NAME/FORMAT/VERSION/ from a run: the converted graph, labels, the tokenizer for
    text, and the manifest; with ``verify``, the runtime's probabilities on test examples are
    compared with Keras first (nothing is written if they differ). Never overwrites.

    ``quantize="int8"`` (onnx): ONNX Runtime's static quantization calibrated on
    ``calibration_examples`` training inputs, written to ROOT/NAME/onnx-int8/VERSION/ and
    always checked: test accuracy against float Keras on the test split (its first
    ``eval_examples``), refused when it drops more than ``max_drop`` unless ``force``."""
    from zoo.export.savedmodel import version_folder

    console = default_console(console)
    runtime = backend(fmt)
    if quantize not in ("none", "int8") or (quantize == "int8" and fmt != "onnx"):
        raise ZooError(
            f"--quantize {quantize} does not apply to --format {fmt}; use --quantize int8 with "
            "--format onnx, or --format tflite for its quantizations"
        )
    if quantize == "int8":
        missing = runtime.quantize_missing()
        if missing:
            raise ZooError(f"--quantize int8 needs {missing}: pip install 'zoo[onnx]'")
        if calibration_examples < 1 or (eval_examples is not None and eval_examples < 1):
            raise ZooError("--calibration-examples and --eval-examples must be at least 1")
        if not 0.0 <= max_drop <= 1.0:
            raise ZooError(
                f"--max-drop must lie in [0, 1] (a fraction of accuracy), not {max_drop}"
            )
    run = rundir.open_run(run_dir)
    name = name or run.name
    rundir.check_run_name(name)
    folder_name = fmt if quantize == "none" else f"{fmt}-{quantize}"
    final, version = version_folder(Path(root) / name / folder_name, version)
    info = loading.module_info(run)
    model = loading.as_float32(loading.load_keras_model(run))
    loading.check_finite(model, f"run {run.path}")
    fn, spec = graph(model, info)
    console.print(f"converting {run.name} to {fmt}...")

    def fill(tmp: Path) -> dict[str, Any]:
        files = runtime.convert(fn, spec, model, tmp)
        (tmp / "labels.txt").write_text("\n".join(info.label_names) + "\n", encoding="utf-8")
        if info.modality == "text":
            shutil.copytree(run.preprocessor_dir, tmp / "preprocessor")
        if quantize == "int8":
            console.print(f"quantizing to int8 on {calibration_examples} training examples...")
            runtime.quantize_int8(tmp, calibration_inputs(run, info, calibration_examples))
            checked = _int8_check(run, info, fn, runtime, tmp, eval_examples, max_drop, force)
            console.print(
                f"int8 accuracy {checked['int8_accuracy']:.4f} vs float "
                f"{checked['float_accuracy']:.4f} on {checked['examples']} test examples "
                f"(drop {100 * checked['drop']:.2f} points, agreement {checked['agreement']:.4f})"
            )
        else:
            checked = _verify(run, info, fn, runtime, tmp) if verify else None
        manifest = {
            "format": fmt,
            "quantize": quantize,
            "files": {f: _sha256(tmp / f) for f in files},
            "input": {
                "name": spec.name,
                "dtype": spec.dtype.name,
                "shape": [None, *info.input_shape],
                "what": INPUTS[info.modality][2],
            },  # fmt: skip
            "output": {
                "name": "probabilities",
                "dtype": "float32",
                "shape": [None, info.num_classes],
            },
            "classes": list(info.label_names),
            "preprocessing": _preprocessing(info),
            "converter": runtime.versions(),
            "verify": checked,
            **loading.run_meta(run),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        return manifest

    manifest = rundir.write_dir_atomic(final, fill)
    console.print(f"exported {run.name} -> {final}")
    return {"export_dir": str(final), "name": name, "version": version, "format": fmt,
            "quantize": quantize,
            "files": manifest["files"], "verify": manifest["verify"]}  # fmt: skip


def _split_inputs(run, info: DatasetInfo, split: str, role: str, limit: int | None):
    """(graph inputs, labels) of the first ``limit`` examples of ``split``."""
    builder = datasets.get_builder(info.name, run.config().get("data_dir"))
    if not datasets.is_available(builder):
        raise ZooError(f"int8 export needs {info.name}'s splits, which are not prepared here")
    ds = pipelines.load_split(builder, info, split, role=role, smoke=False, seed=0)
    pairs = list((ds.take(limit) if limit else ds).as_numpy_iterator())
    vectorizer = (
        preprocess.load_text_encoder(run.preprocessor_dir) if info.modality == "text" else None
    )
    x = client_prep(info, vectorizer)(raw_batch(info, (x for x, _ in pairs)))
    return x, np.array([y for _, y in pairs], dtype=np.int64)


def calibration_inputs(run, info: DatasetInfo, examples: int) -> np.ndarray:
    """The first ``examples`` training inputs as the graph takes them (one array)."""
    return _split_inputs(run, info, info.train_split, "train", examples)[0]


def _int8_check(run, info, fn, runtime, folder, limit, max_drop, force) -> dict[str, Any]:
    """Test accuracy of the int8 model against float Keras on the same examples; refused above
    ``max_drop`` unless ``force``."""
    x, labels = _split_inputs(run, info, info.test_split, "test", limit)
    quantized = runtime.load(folder)
    ref, got = [], []
    for lo in range(0, len(x), 256):
        ref.append(fn(x[lo : lo + 256]).numpy().argmax(-1))
        got.append(np.asarray(quantized(x[lo : lo + 256])).argmax(-1))
    ref, got = np.concatenate(ref), np.concatenate(got)
    float_acc, int8_acc = float((ref == labels).mean()), float((got == labels).mean())
    checked = {"examples": len(labels), "float_accuracy": float_acc, "int8_accuracy": int8_acc,
               "drop": float_acc - int8_acc, "agreement": float((ref == got).mean()),
               "max_drop": max_drop, "forced": bool(force)}  # fmt: skip
    if checked["drop"] > max_drop and not force:
        raise ZooError(
            f"int8 loses {100 * checked['drop']:.2f} points ({float_acc:.4f} -> {int8_acc:.4f} "
            f"on {len(labels)} test examples), more than --max-drop {max_drop}; nothing was "
            "written: raise --max-drop, or --force to keep it"
        )
    return checked


def _preprocessing(info: DatasetInfo) -> str:
    if info.modality == "image":
        return (f"decode, resize to {info.input_shape[0]}x{info.input_shape[1]} (bilinear, "
                "antialiased) outside the graph; /255 inside")  # fmt: skip
    if info.modality == "audio":
        return (f"{info.sample_rate} Hz mono, cut or zero-padded to {info.input_shape[0]} samples, "
                "int16 / 32768; the log-mel front end is inside the graph")  # fmt: skip
    return "the run's tokenizer (preprocessor/), padded or cut to the sequence length"


def _verify(run, info: DatasetInfo, fn, runtime, folder: Path) -> dict[str, Any]:
    """The runtime against Keras (float32) on up to 64 test examples: max |p - p_keras|,
    top-1 agreement; an export outside the tolerance is refused."""
    builder = datasets.get_builder(info.name, run.config().get("data_dir"))
    if not datasets.is_available(builder):
        raise ZooError(f"--verify needs {info.name}'s test split, which is not prepared here")
    raw = pipelines.load_split(builder, info, info.test_split, role="test", smoke=True, seed=0)
    xs = raw_batch(info, (x for x, _ in raw.take(64).as_numpy_iterator()))
    vectorizer = (
        preprocess.load_text_encoder(run.preprocessor_dir) if info.modality == "text" else None
    )
    x = client_prep(info, vectorizer)(xs)
    expected = fn(x).numpy()
    got = runtime.load(folder)(x)
    diff = float(np.abs(got - expected).max()) if len(x) else 0.0
    agree = float((got.argmax(-1) == expected.argmax(-1)).mean()) if len(x) else 1.0
    checked = {"examples": len(x), "max_abs_diff": diff, "top1_agreement": agree,
               "tolerance": TOLERANCE, "ok": diff <= TOLERANCE and agree == 1.0}  # fmt: skip
    if not checked["ok"]:
        raise ZooError(
            f"{runtime.NAME} disagrees with Keras (max |diff| {diff:.2e}, top-1 agreement "
            f"{agree:.3f} on {len(x)} test examples); nothing was written"
        )
    return checked
