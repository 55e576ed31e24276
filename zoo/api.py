"""The library's public calls; every CLI command is one of these.

>>> from zoo import api
>>> cfg = api.resolve_train_config("cnn", "fashion_mnist", flags={"epochs": 1})
>>> summary = api.train(cfg)
>>> api.evaluate(summary["run_dir"])["accuracy"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo import config as cfg_lib
from zoo import registry
from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.trainer import default_console, train, write_plots  # noqa: F401  (train is public)

# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def model_rows(pattern: str | None = None, modality: str | None = None) -> list[dict[str, Any]]:
    """One row per variant: name, family, modality, parameters (on the reference input), text."""
    from zoo.data import reference_info

    rows = []
    for spec in registry.list_models(pattern, modality):
        model = registry.create_model(spec.name, reference_info(spec.modality))
        rows.append(
            {
                "name": spec.name,
                "family": spec.family,
                "modality": spec.modality,
                "parameters": int(model.count_params()),
                "description": spec.description,
                "default": spec.default,
            }
        )
    return rows


def model_info(
    name: str,
    image_size: int | None = None,
    num_classes: int | None = None,
    vocab_size: int | None = None,
) -> dict[str, Any]:
    """Full default config, recipe, parameter count and FLOPs per example of one variant, on
    the reference input or the image size / classes / vocabulary given."""
    from zoo.data import reference_info

    spec = registry.get_spec(name)
    info = reference_info(spec.modality)
    if image_size and spec.modality == "image":
        info = dataclasses.replace(info, input_shape=(image_size, image_size, 3))
    if num_classes:
        names = tuple(str(i) for i in range(num_classes))
        info = dataclasses.replace(info, num_classes=num_classes, label_names=names)
    if vocab_size and spec.modality == "text":
        info = dataclasses.replace(info, vocab_size=vocab_size)
    model = registry.create_model(spec.name, info)
    return {
        "name": spec.name,
        "family": spec.family,
        "modality": spec.modality,
        "description": spec.description,
        "reference_input": {
            "input_shape": list(info.input_shape),
            "num_classes": info.num_classes,
            **({"vocab_size": info.vocab_size} if spec.modality == "text" else {}),
        },
        "parameters": int(model.count_params()),
        "flops_per_example": flops(
            model, info.input_shape, "int32" if spec.modality == "text" else "float32"
        ),
        "config": cfg_lib.to_dict(spec.config),
        "recipe": {
            **cfg_lib.to_dict(TrainConfig()),
            **spec.recipe,
            "model": spec.name,
            "dataset": None,
        },
        **(
            {"pretrain_recipe": {**cfg_lib.to_dict(TrainConfig()), **spec.pretrain_recipe}}
            if spec.pretrain
            else {}
        ),
    }


def flops(model, input_shape: Sequence[int], dtype: str) -> int:
    """Floating-point operations of one forward pass on one example (a multiply-add counts 2),
    counted by TensorFlow's profiler on the frozen graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, *input_shape], dtype))
    graph_def = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        result = tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=opts)
    return int(result.total_float_ops)


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------


def resolve_train_config(
    model: str,
    dataset: str | None,
    config_file: str | None = None,
    sets: Sequence[str] = (),
    flags: dict[str, Any] | None = None,
    pretraining: bool = False,
) -> TrainConfig:
    """defaults < family recipe (its pretraining recipe with ``pretraining``) < --smoke <
    config file < --set < explicit flags."""
    spec = registry.get_spec(model)
    file_values = cfg_lib.load_file(config_file) if config_file else {}
    set_values = cfg_lib.parse_set(sets)
    flag_values = {k: v for k, v in (flags or {}).items() if v is not None}
    user = cfg_lib.merge(file_values, set_values, flag_values)
    smoke = {"epochs": 1} if user.get("smoke") else {}
    recipe = spec.pretrain_recipe if pretraining else spec.recipe
    merged = cfg_lib.merge(recipe, smoke, user, {"model": spec.name})
    if dataset:
        merged["dataset"] = dataset
    if not merged.get("dataset"):
        raise ZooError("no dataset given: pass --dataset NAME (e.g. --dataset cifar10)")
    config = cfg_lib.from_dict(TrainConfig, merged, where="train config")
    registry.model_config(config.model, config.model_config)  # architecture keys checked now
    return config


# ---------------------------------------------------------------------------------------------
# Evaluation, export, prediction, data
# ---------------------------------------------------------------------------------------------


def evaluate(
    target: str | Path,
    dataset: str | None = None,
    split: str | None = None,
    data_dir: str | None = None,
    batch_size: int = 256,
    smoke: bool = False,
    plot_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Loss, accuracy, top-5, per-class precision/recall/F1 and confusion matrix of a target;
    with ``plot_dir``, PNG plots too (confusion matrix, and training curves for a run)."""
    from zoo import data, evaluation
    from zoo.export import load_target

    tgt = load_target(target)
    info = tgt.info
    data_dir = data_dir or tgt.config.get("data_dir")
    name = dataset or info.name
    if name != info.name:
        other = data.inspect(name, data_dir)
        if (
            other.modality != info.modality
            or other.label_names != info.label_names
            or bool(other.pair_key) != bool(info.pair_key)
        ):
            raise ZooError(
                f"{name} has other classes or inputs than {info.name}, which the "
                f"target was trained on; evaluate it on {info.name}"
            )
        info = dataclasses.replace(
            info,
            name=name,
            input_key=other.input_key,
            label_key=other.label_key,
            pair_key=other.pair_key,
        )
    builder = data.get_builder(name, data_dir)
    data.ensure_prepared(builder)
    split = split or info.test_split
    raw = data.load_split(builder, info, split, role="test", smoke=smoke, seed=0)
    ds = data.make_pipeline(raw, info, batch_size=batch_size, training=False, one_hot=False)
    probs, labels = evaluation.predict_dataset(lambda x: tgt.raw(x)["probabilities"], ds)
    if len(labels) == 0:
        raise ZooError(f"split {split!r} of {name} is empty")
    report = evaluation.classification_report(probs, labels, info.label_names)
    out = {"target": str(tgt.path), "kind": tgt.kind, "dataset": name, "split": split, **report}
    if plot_dir:
        history = Path(tgt.path) / "history.csv" if tgt.kind == "run" else None
        out["plots"] = write_plots(
            Path(plot_dir), report, info.label_names, history, default_console(None)
        )
    return out


def export(
    run_dir: str | Path,
    root: str | Path = "saved_models",
    name: str | None = None,
    version: int | None = None,
    verify: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Write ``root/name/version/`` (TF Serving layout) from a run; never overwrites."""
    import tempfile

    from zoo import export as export_lib
    from zoo import runs

    console = default_console(console)
    run = runs.open_run(run_dir)
    name = name or run.name
    runs.check_run_name(name)
    model_dir = Path(root) / name
    version = version if version is not None else export_lib.next_version(model_dir)
    if version < 1:
        raise ZooError(f"--version must be a positive integer, got {version}")
    final = model_dir / str(version)
    if final.exists():
        raise ZooError(
            f"export {final} already exists; nothing was overwritten: pass another "
            "--version or leave it out to take the next free one"
        )
    with tempfile.TemporaryDirectory(prefix="zoo-assets-") as assets:
        module = export_lib.serving_module_for_run(run, Path(assets))
        check = None
        if verify:
            check = lambda path: _verify_export(run, module, path)
        result = export_lib.write_export(module, final, check)
    out = {
        "export_dir": str(final),
        "name": name,
        "version": version,
        "signatures": module.signatures(),
        "modality": module.modality,
        "verify": result,
    }
    console.print(f"exported {run.name} -> {final}")
    return out


def _verify_export(run, module, path: Path) -> dict[str, Any]:
    """Reload the written SavedModel and compare it with the Keras model on real examples."""
    import numpy as np
    import tensorflow as tf

    from zoo import data
    from zoo import export as export_lib

    info = export_lib.module_info(run)
    config = run.config()
    builder = data.get_builder(info.name, config.get("data_dir"))
    if not data.is_available(builder):
        raise ZooError(f"--verify needs {info.name}'s test split, which is not prepared here")
    raw = data.load_split(builder, info, info.test_split, role="test", smoke=True, seed=0)
    xs = (
        np.stack([x for x, _ in raw.take(32).as_numpy_iterator()])
        if info.modality == "image"
        else [x for x, _ in raw.take(32).as_numpy_iterator()]
    )
    loaded = export_lib.load_saved_model(str(path))
    if info.modality == "image":
        expected = module.serve_images(tf.constant(xs))
        checks = {
            "serving_images": export_lib.compare(
                expected, loaded.signatures["serving_images"](images=tf.constant(xs))
            ),
            "serving_default": export_lib.compare(
                expected,
                loaded.signatures["serving_default"](
                    image_bytes=tf.constant(export_lib.encode_png(xs))
                ),
            ),
        }
    else:
        texts = export_lib.text_inputs(info, np.array(xs, dtype=object))
        expected = module.serve_text(**texts)
        checks = {
            "serving_default": export_lib.compare(
                expected, loaded.signatures["serving_default"](**texts)
            )
        }
    if not all(c["ok"] for c in checks.values()):
        raise ZooError(f"export verification failed ({checks}); nothing was written")
    return checks


def predict(target: str | Path, inputs: Sequence[str], top_k: int = 5) -> list[dict[str, Any]]:
    """Top-k classes for image files (image targets) or raw strings (text targets); a
    sentence-pair target reads the strings two at a time, each pair one input."""
    import numpy as np
    import tensorflow as tf

    from zoo.export import load_target

    if not inputs:
        raise ZooError("nothing to predict: pass image files or texts after the target")
    if top_k < 1:
        raise ZooError(f"--top-k must be at least 1, got {top_k}")
    tgt = load_target(target)
    if tgt.info.modality == "image":
        blobs = [_read_image(p) for p in inputs]
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
    del tf
    return results


def _read_image(path: str) -> bytes:
    import tensorflow as tf

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


def _check_text(text: str) -> str:
    if not text.strip():
        raise ZooError("empty text input: pass the text to classify as an argument")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 arrive as lone surrogates
        raise ZooError("text input is not valid UTF-8: re-encode it as UTF-8") from None
    return text


def prepare_data(name: str, from_dir: str, data_dir: str | None = None) -> dict[str, Any]:
    from zoo import data

    info = data.prepare_offline(name, from_dir, data_dir)
    return {
        "dataset": name,
        "data_dir": data_dir,
        "modality": info.modality,
        "num_classes": info.num_classes,
        "splits": info.splits,
    }


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
    import tempfile

    import numpy as np
    import tensorflow as tf

    from zoo import data, runs, tflite
    from zoo import export as export_lib
    from zoo.preprocess import load_text_encoder

    console = default_console(console)
    if quantize not in tflite.QUANTIZE:
        raise ZooError(
            f"unknown --quantize {quantize!r}; choose one of {', '.join(tflite.QUANTIZE)}"
        )
    if calibration_examples < 1 or (eval_examples is not None and eval_examples < 1):
        raise ZooError("--calibration-examples and --eval-examples must be at least 1")
    run = runs.open_run(run_dir)
    name = name or run.name
    runs.check_run_name(name)
    out_dir = Path(root) / name / f"tflite-{quantize}"
    if out_dir.exists():
        raise ZooError(f"{out_dir} already exists; nothing was overwritten: pass another --name")
    info = export_lib.module_info(run)
    builder = data.get_builder(info.name, run.config().get("data_dir"))
    if not data.is_available(builder):
        raise ZooError(f"the TFLite check needs {info.name}'s splits, which are not prepared here")
    model = export_lib.as_float32(export_lib.load_keras_model(run))
    vectorizer = load_text_encoder(run.preprocessor_dir) if info.modality == "text" else None
    prep = tflite.preprocess_fn(info, vectorizer)

    # --- Convert (int8 calibrates on training examples) -----------------------------------------
    calibration = None
    if quantize == "int8":
        raw = data.load_split(builder, info, info.train_split, role="train", smoke=False, seed=0)
        batch = [x for x, _ in raw.take(calibration_examples).as_numpy_iterator()]
        calibration = list(prep(np.stack(batch) if info.modality == "image" else np.array(batch)))
    console.print(f"converting {run.name} to TFLite (quantize {quantize})...")
    content = tflite.convert(model, info, quantize, calibration, int8_io, select_tf_ops)
    interpreter = tflite.Interpreter(content)

    # --- Compare with the float SavedModel on the test split ------------------------------------
    test = data.load_split(builder, info, info.test_split, role="test", smoke=False, seed=0)
    if eval_examples:
        test = test.take(eval_examples)
    pairs = list(test.as_numpy_iterator())
    raw_x = (
        np.stack([x for x, _ in pairs])
        if info.modality == "image"
        else np.array([x for x, _ in pairs], dtype=object)
    )
    labels = np.array([y for _, y in pairs], dtype=np.int64)
    with tempfile.TemporaryDirectory(prefix="zoo-tflite-") as tmp:
        module = export_lib.ServingModule(
            model, info, Path(tmp) / "assets", export_lib.run_meta(run), vectorizer
        )
        module.write(Path(tmp) / "sm")
        sm_bytes = tflite.directory_size(Path(tmp) / "sm")
        sig = export_lib.load_saved_model(str(Path(tmp) / "sm")).signatures
        if info.modality == "image":
            ref = lambda x: sig["serving_images"](images=tf.constant(x))["probabilities"]
        else:
            ref = lambda x: sig["serving_default"](**export_lib.text_inputs(info, x))[
                "probabilities"
            ]
        console.print(f"checking on {len(labels)} test examples through the interpreter...")
        report = tflite.compare(interpreter, prep, ref, raw_x, labels)
    report.update(
        quantize=quantize,
        int8_io=int8_io,
        tflite_bytes=len(content),
        savedmodel_bytes=sm_bytes,
        size_ratio=round(sm_bytes / len(content), 2),
        split=info.test_split,
    )
    meta = {
        **export_lib.run_meta(run),
        "tflite": report,
        "input": "float32 images in [0, 1]"
        if info.modality == "image" and not int8_io
        else ("uint8 pixels" if info.modality == "image" else "int32 token ids"),
    }
    tflite.write(out_dir, content, info, meta, run)
    runs.write_json(out_dir / tflite.REPORT_FILE, report)
    console.print(f"exported {run.name} -> {out_dir / tflite.MODEL_FILE}")
    return {"export_dir": str(out_dir), "file": str(out_dir / tflite.MODEL_FILE), **report}


# ---------------------------------------------------------------------------------------------
# Runs, datasets, doctor
# ---------------------------------------------------------------------------------------------

RUN_SORT_KEYS = (
    "name",
    "model",
    "dataset",
    "status",
    "test_accuracy",
    "best_val_accuracy",
    "started",
)


def run_row(run) -> dict[str, Any]:
    """One line of `zoo runs`: what, how far, how good."""
    from zoo import runs, training

    try:
        config = run.config()
    except ZooError:
        config = {}
    record = run.record()
    metrics_file = run.file(runs.METRICS)
    metrics = runs.read_json(metrics_file) if metrics_file.exists() else {}
    best = training.best_so_far(run.file(runs.HISTORY))
    done = 0
    if run.file(runs.HISTORY).exists():
        done = max(0, len(run.file(runs.HISTORY).read_text().strip().splitlines()) - 1)
    return {
        "name": run.name,
        "path": str(run.path),
        "task": record.get("task", "classify"),
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "status": run.status(),
        "epochs_done": done,
        "epochs": config.get("epochs"),
        "best_val_accuracy": best if best > float("-inf") else None,  # masked-token for mlm
        "test_accuracy": metrics.get("test_accuracy"),
        "started": record.get("started"),
        "wall_time_s": metrics.get("wall_time_s"),
    }


def list_run_rows(
    runs_dir: str | Path | None = None, pattern: str | None = None, sort: str = "started"
) -> list[dict[str, Any]]:
    from zoo import runs

    if sort.lstrip("-") not in RUN_SORT_KEYS:
        raise ZooError(
            f"cannot sort by {sort!r}; choose one of {', '.join(RUN_SORT_KEYS)} "
            "(prefix - for descending)"
        )
    root = Path(runs_dir) if runs_dir else runs.default_runs_dir()
    rows = [run_row(r) for r in runs.list_runs(root, pattern)]
    key = sort.lstrip("-")
    rows.sort(
        key=lambda r: (r[key] is None, r[key] if r[key] is not None else 0),
        reverse=sort.startswith("-"),
    )
    return rows


def show_run(path: str | Path) -> dict[str, Any]:
    from zoo import runs

    run = runs.open_run(path, need_model=False, classifier=False)
    out = run_row(run)
    out.update(config=run.config(), record=run.record())
    metrics = run.file(runs.METRICS)
    out["metrics"] = runs.read_json(metrics) if metrics.exists() else None
    return out


def datasets(pattern: str | None = None, data_dir: str | None = None) -> list[dict[str, Any]]:
    from zoo import data

    return data.catalog(pattern, data_dir)


def dataset_info(name: str, data_dir: str | None = None) -> dict[str, Any]:
    from zoo import data

    info = data.inspect(name, data_dir)
    row = data.describe(name, data_dir) or {}
    return {**info.to_json(), "prepared": row.get("prepared", False), "version": row.get("version")}


def doctor(data_dir: str | None = None) -> dict[str, Any]:
    """Versions, devices, data directory and prepared datasets, each with a verdict. Makes no
    network requests: prepared datasets are found by reading the data directory."""
    import os
    import platform

    import keras
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from zoo import __version__

    checks = []

    def check(name, value, ok, advice="", note=""):
        """``advice`` is shown when the check fails, ``note`` always."""
        checks.append(
            {
                "check": name,
                "value": value,
                "ok": bool(ok),
                "advice": note or ("" if ok else advice),
            }
        )

    py = platform.python_version()
    check("python", py, tuple(map(int, py.split(".")[:2])) >= (3, 10), "use Python 3.10+")
    check("zoo", __version__, True)
    check(
        "tensorflow",
        tf.__version__,
        tf.__version__.startswith("2.21"),
        "the zoo is tested with TensorFlow 2.21",
    )
    check("keras", keras.__version__, keras.__version__.startswith("3."), "the zoo needs Keras 3")
    check("tensorflow_datasets", tfds.__version__, True)
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    tpus = [d.name for d in tf.config.list_logical_devices("TPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    check(
        "devices",
        {"CPU": len(cpus), "GPU": len(gpus), "TPU": len(tpus)},
        True,
        note="" if gpus or tpus else "no GPU/TPU visible: training runs on the CPU",
    )
    from zoo import distribute

    default = tf.distribute.get_strategy()
    auto = {m: distribute.resolve_precision("auto", default, m) for m in ("image", "text")}
    check("precision_auto", auto, True, note="what --precision auto picks on this machine")
    root = Path(
        data_dir or os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets"
    ).expanduser()
    check(
        "data_dir",
        str(root),
        root.is_dir(),
        "does not exist yet: `zoo data prepare` or a first download creates it",
    )
    # <root>/<name>[/<config>]/<version>/dataset_info.json: the name is all but the version.
    prepared = (
        sorted(
            {
                "/".join(p.parent.relative_to(root).parts[:-1])
                for p in root.glob("**/dataset_info.json")
                if "incomplete" not in str(p)
            }
        )
        if root.is_dir()
        else []
    )
    check(
        "prepared_datasets",
        prepared,
        True,
        note=""
        if prepared
        else "none: datasets would be downloaded on first use, or prepare "
        "them offline with `zoo data prepare NAME --from DIR`",
    )
    return {"ok": all(c["ok"] for c in checks), "checks": checks}
