"""The library's public calls; every CLI command is one of these.

Each call is a few lines handing over to the module that does the work: ``zoo.model_info``,
``zoo.engine`` (training), ``zoo.tune`` (studies and sweeps), ``zoo.training.evaluation``,
``zoo.export`` (formats; ``loading`` for prediction), ``zoo.runs.table``, ``zoo.data.catalog``
and ``zoo.doctor``. Nothing heavy is imported here: TensorFlow loads inside the calls that need
it.

>>> from zoo import api
>>> api.evaluate(api.train(api.resolve_train_config("cnn", "fashion_mnist"))["run_dir"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo.config import TrainConfig

# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def model_rows(pattern: str | None = None, modality: str | None = None) -> list[dict[str, Any]]:
    """One row per variant: name, family, modality, parameters (on the reference input), text."""
    from zoo import model_info as models

    return models.model_rows(pattern, modality)


def model_info(name: str, **facts: int | None) -> dict[str, Any]:
    """Full default config, recipe, parameter count and FLOPs per example of one variant, on
    the reference input or the ``image_size`` / ``num_classes`` / ``vocab_size`` given."""
    from zoo import model_info as models

    return models.model_info(name, **facts)


# ---------------------------------------------------------------------------------------------
# Training: every command that trains runs the one engine with its task
# ---------------------------------------------------------------------------------------------


def train(
    config: TrainConfig,
    run_name: str | None = None,
    runs_dir: str | Path | None = None,
    *,
    tpu: str | None = None,
    download: bool = True,
    export_to: str | Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Train a classifier (``zoo train``); returns the run summary (also metrics.json)."""
    from zoo import engine
    from zoo.tasks import get_task

    return engine.train(get_task("classify"), config, run_name, runs_dir, tpu=tpu,
                        download=download, export_to=export_to, console=console)  # fmt: skip


def pretrain(
    config: TrainConfig,
    run_name: str | None = None,
    runs_dir: str | Path | None = None,
    *,
    tpu: str | None = None,
    download: bool = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """Masked-LM pretraining (``zoo pretrain``) of the text of ``config.train_split``."""
    from zoo import engine
    from zoo.tasks import get_task

    return engine.train(
        get_task("mlm"), config, run_name, runs_dir, tpu=tpu, download=download, console=console
    )


def resume(
    run_dir: str | Path,
    *,
    tpu: str | None = None,
    data_dir: str | None = None,
    download: bool = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """Continue a run from its own config.json (``zoo resume``), whatever its task."""
    from zoo import engine

    return engine.resume(run_dir, tpu=tpu, data_dir=data_dir, download=download, console=console)


# ---------------------------------------------------------------------------------------------
# Many runs: studies (Optuna) and sweeps
# ---------------------------------------------------------------------------------------------


def tune_spec(kind: str, model: str, dataset=None, *, resume=False, runs_dir=None, **options):
    """(the study's settings, its stored database URL): checked from the command line's values
    (``zoo.tune.runner.make_spec``), or with ``resume`` read from study ``model``'s folder."""
    from zoo.tune import runner

    if resume:
        return runner.resume_spec(model, runs_dir)
    return runner.make_spec(kind, model, dataset, **options), None


def tune(spec, runs_dir: str | Path | None = None, **options) -> dict[str, Any]:
    """Run or continue a study or sweep (``zoo tune``, ``zoo sweep``); its summary at the end."""
    from zoo.tune import runner

    return runner.run(spec, runs_dir, **options)


def tune_show(study: str, runs_dir=None, storage: str | None = None) -> dict[str, Any]:
    """A study's trials, best trial (tested once), reproducing command, per-value medians."""
    from zoo.tune import runner

    return runner.show(study, runs_dir, storage)


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
    notes: list[str] | None = None,
) -> TrainConfig:
    """The run's config: defaults < family recipe (its pretraining recipe with ``pretraining``)
    < the recipe's values for this dataset < --smoke < config file < --set < explicit flags;
    lines the user should read (a preset's limit that replaced a default) join ``notes``."""
    from zoo.training import recipes

    return recipes.resolve(model, dataset, config_file, sets, flags, pretraining, notes)


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
    tta: str = "none",
) -> dict[str, Any]:
    """Loss, accuracy, top-5, per-class precision/recall/F1 and confusion matrix of a target;
    with ``plot_dir``, PNG plots too (confusion matrix, and training curves for a run);
    ``tta="flip"`` averages each image's probabilities with its mirror's."""
    from zoo.training.evaluation import evaluate_target

    return evaluate_target(target, dataset, split, data_dir, batch_size, smoke, plot_dir, tta)


def export(
    run_dir: str | Path,
    root: str | Path = "saved_models",
    name: str | None = None,
    version: int | None = None,
    verify: bool = False,
    console: Console | None = None,
    fmt: str = "savedmodel",
    **options,
) -> dict[str, Any]:
    """Write ``root/name/version/`` (TF Serving layout; ``fmt`` onnx / openvino:
    ``root/name/FORMAT/version/``, checked by its own runtime with ``verify``; ``options`` as
    ``zoo.export.portable.export``: quantize, ...); never overwrites."""
    from zoo.export import portable, savedmodel

    if fmt in ("onnx", "openvino"):
        return portable.export(run_dir, fmt, root, name, version, verify, console, **options)
    return savedmodel.export_run(run_dir, root, name, version, verify, console)


def export_keras_hub(
    run_dir: str | Path,
    root: str | Path = "saved_models",
    name: str | None = None,
) -> dict[str, Any]:
    """Write ROOT/NAME/keras-hub/, a KerasHub preset of a BERT or ViT run (a fine-tuned or a
    masked-LM pretraining run), reloaded with KerasHub and compared; never overwrites."""
    from zoo.export.keras_hub import export_run_preset

    return export_run_preset(run_dir, root, name)


def predict(target: str | Path, inputs: Sequence[str], top_k: int = 5) -> list[dict[str, Any]]:
    """Top-k classes for image files, WAV files or texts (pairs: two strings each), any format."""
    from zoo.export import loading

    return loading.predict(target, inputs, top_k)


def benchmark(model: str, *args, serving: bool = False, **kwargs) -> dict[str, Any]:
    """Throughput, FLOP/s and memory of the step `zoo train` runs (``zoo.benchmark.run``); with
    ``serving``, MODEL is a run timed through every runtime (``zoo.export.bench.serving``)."""
    if serving:
        from zoo.export.bench import serving as serving_benchmark

        return serving_benchmark(model, *args, **kwargs)
    from zoo import benchmark as bench

    return bench.run(model, *args, **kwargs)


def prepare_data(name: str, from_dir: str, data_dir: str | None = None) -> dict[str, Any]:
    """Prepare dataset ``name`` from files already downloaded to ``from_dir`` (no network)."""
    from zoo.data import catalog

    return catalog.prepare(name, from_dir, data_dir)


def export_tflite(
    run_dir: str | Path, root: str | Path = "saved_models", name: str | None = None, **options
) -> dict[str, Any]:
    """Write ROOT/NAME/tflite-QUANTIZE/ (model.tflite, labels, zoo.json, report.json) and check the
    file against the float SavedModel on the test split through the TFLite interpreter
    (``options`` as ``zoo.export.tflite.export_tflite``: quantize, calibration_examples, ...)."""
    from zoo.export import tflite

    return tflite.export_tflite(run_dir, root, name, **options)


# ---------------------------------------------------------------------------------------------
# Runs, datasets, doctor
# ---------------------------------------------------------------------------------------------


def run_row(run) -> dict[str, Any]:
    """One line of `zoo runs`: what, how far, how good."""
    from zoo.runs import table

    return table.run_row(run)


def list_run_rows(
    runs_dir: str | Path | None = None, pattern: str | None = None, sort: str = "started"
) -> list[dict[str, Any]]:
    """``run_row`` of every run under ``runs_dir`` matching ``pattern``, sorted by ``sort``
    (one of ``zoo.runs.table.RUN_SORT_KEYS``; prefix - for descending)."""
    from zoo.runs import table

    return table.list_run_rows(runs_dir, pattern, sort)


def results_table(
    runs_dir: str | Path | None = None, pattern: str | None = None, fmt: str = "csv"
) -> str:
    """Finished runs as a results table (``fmt`` csv or markdown), every number from the runs."""
    from zoo.runs import table

    rows = table.result_rows(runs_dir, pattern)
    return table.to_csv(rows) if fmt == "csv" else table.to_markdown(rows)


def show_run(path: str | Path) -> dict[str, Any]:
    """``run_row`` of one run with its config, record and metrics."""
    from zoo.runs import table

    return table.show_run(path)


def datasets(pattern: str | None = None, data_dir: str | None = None) -> list[dict[str, Any]]:
    """Image and text classification datasets of the TFDS catalog matching ``pattern``."""
    from zoo.data import catalog

    return catalog.catalog(pattern, data_dir)


def dataset_info(name: str, data_dir: str | None = None) -> dict[str, Any]:
    """What the zoo reads from dataset ``name``, and whether (which version) it is prepared."""
    from zoo.data import catalog

    return catalog.dataset_info(name, data_dir)


def doctor(data_dir: str | None = None) -> dict[str, Any]:
    """Versions, devices, data directory and prepared datasets, each with a verdict. Makes no
    network requests: prepared datasets are found by reading the data directory."""
    from zoo import doctor as checks

    return checks.doctor(data_dir)
