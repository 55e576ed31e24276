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
) -> dict[str, Any]:
    """Write ROOT/NAME/FORMAT/VERSION/ from a run: the converted graph, labels, the tokenizer for
    text, and the manifest; with ``verify``, the runtime's probabilities on test examples are
    compared with Keras first (nothing is written if they differ). Never overwrites."""
    from zoo.export.savedmodel import version_folder

    console = default_console(console)
    runtime = backend(fmt)
    run = rundir.open_run(run_dir)
    name = name or run.name
    rundir.check_run_name(name)
    final, version = version_folder(Path(root) / name / fmt, version)
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
        checked = _verify(run, info, fn, runtime, tmp) if verify else None
        manifest = {
            "format": fmt,
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
            "files": manifest["files"], "verify": manifest["verify"]}  # fmt: skip


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
