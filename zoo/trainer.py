"""Training: run directory checks, strategy, data, model, fit with resume, test evaluation.

``zoo.api.train`` is this module's ``train``; the phases read top to bottom, each a short helper.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo import config as cfg_lib
from zoo import registry
from zoo.config import TrainConfig
from zoo.distribute import restores_precision
from zoo.errors import ZooError


def default_console(console: Console | None) -> Console:
    """The console to print to: the caller's, or stderr (stdout may carry --json)."""
    return console or Console(stderr=True, highlight=False)


def _check_existing_run(run, config: TrainConfig) -> bool:
    """-> True when ``run`` is an interrupted run of the same config (resume it)."""
    from zoo import runs

    if not run.path.exists():
        return False
    if not run.file(runs.CONFIG).exists():
        if any(run.path.iterdir()):
            raise ZooError(f"{run.path} exists and is not a run directory; pick another --run-name")
        return False
    status = run.status()
    if status == "finished":
        raise ZooError(
            f"run {run.name} already finished; pick another --run-name (or `zoo eval {run.path}`)"
        )
    saved = run.config()
    wanted = cfg_lib.to_dict(config)
    differ = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    if differ:
        raise ZooError(
            f"run {run.name} exists with a different config ({', '.join(differ[:5])}); nothing "
            "was changed: pick another --run-name to start a new run"
        )
    if status == "running":
        raise ZooError(
            f"run {run.name} is running now (pid {run.record().get('pid')}); wait for "
            "it or pick another --run-name"
        )
    return True


@restores_precision
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
    """Train ``config.model`` on ``config.dataset``; returns the run summary (also metrics.json).
    With ``export_to``, the chief also exports the finished run there (SavedModel, verified)."""
    from zoo import data, distribute, training

    console = default_console(console)
    started = time.time()
    spec = registry.get_spec(config.model)

    strategy, jit, report = setup(config, tpu)
    run, work, resuming = open_run(config, spec, run_name, runs_dir, report, strategy, console)

    # --- Data and preprocessor ---------------------------------------------------------------
    source, vocab_dir = init_source(config, spec, run, resuming)
    d = _training_data(config, spec, download, console, vocab_dir=vocab_dir)
    info = d["info"]
    steps = data.steps_per_epoch(d["n_train"], config.batch_size)
    first_epoch = _resume_epoch(work) if resuming else 0
    train_ds = _distributed(
        d["make"](
            d["train"],
            training=True,
            seed=config.seed,
            augment=config.augment,
            examples=d["n_train"],
            epochs=(first_epoch, config.epochs),
        )
    )
    val_ds = _distributed(d["make"](d["val"], training=False))

    # --- Model and optimizer, inside the strategy's scope --------------------------------------
    with strategy.scope():
        model = registry.create_model(spec.name, info, config.model_config)
        if not resuming:
            warm_start(model, source, spec, console)
        training.compile_model(model, config, info.num_classes, steps, jit)

    if "MultiWorker" in report.strategy:
        distribute.patch_keras_for_multi_worker()
        _patch_multi_worker_build(model, strategy, val_ds)
    if report.is_chief:
        _write_run(run, config, info, d["vectorizer"], report, resuming, d["n_train"])
    console.print(
        f"run {run.path} ({'resuming at epoch ' + str(first_epoch + 1) if resuming else 'new'}"
        f"): {spec.name} on {info.name}, {d['n_train']} training examples, {steps} "
        f"steps/epoch, {model.count_params():,} parameters"
    )

    # --- Fit -------------------------------------------------------------------------------------
    fit(model, train_ds, val_ds, config, steps, work, run, report.is_chief, console)

    # --- Best weights -> model.keras; evaluate on the test split -------------------------------
    summary = _finish(run, work, model, d, config, report.is_chief, started, console)
    if export_to is not None and report.is_chief:
        from zoo.api import export

        summary["export"] = export(run.path, export_to, verify=True, console=console)
    return summary


def setup(config: TrainConfig, tpu: str | None):
    """Seeds, op determinism, strategy, precision and XLA -> (strategy, jit_compile, report)."""
    import keras
    import tensorflow as tf

    from zoo import distribute

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = distribute.create_strategy(config.strategy, tpu)
    modality = registry.get_spec(config.model).modality
    precision = distribute.resolve_precision(config.precision, strategy, modality)
    distribute.set_precision(precision)
    jit = distribute.resolve_xla(config.xla, strategy)
    return strategy, jit, distribute.report(strategy, config.batch_size, precision, jit)


def init_source(config: TrainConfig, spec, run, resuming: bool):
    """``--init-from``: -> (the source run or None, the vocabulary directory to reuse or None).
    A resumed run keeps its own vocabulary; text started from a source keeps the source's."""
    source = None
    if config.init_from:
        from zoo import transfer

        source = transfer.source_run(config.init_from, run.path.parent)
    vocab_dir = run.preprocessor_dir if resuming else None
    if vocab_dir is None and source is not None and spec.modality == "text":
        vocab_dir = source.preprocessor_dir
    return source, vocab_dir


def warm_start(model, source, spec, console: Console) -> None:
    """Copy the matching layers of ``source`` (if any) into a freshly built ``model``."""
    if source is None:
        return
    from zoo import transfer

    loaded = transfer.init_from(model, source, spec.family)
    console.print(f"initialised {loaded} layers from {source.path}")


def open_run(config: TrainConfig, spec, run_name, runs_dir, report, strategy, console: Console):
    """The run directory (checked, not yet written) -> (run, work dir, resuming). Workers other
    than the chief keep their state in a stable scratch directory, never in runs/."""
    from zoo import distribute, runs

    root = Path(runs_dir) if runs_dir else runs.default_runs_dir()
    name = run_name or runs.new_run_name(spec.name, config.dataset)
    runs.check_run_name(name)
    run = runs.Run(root / name)
    if report.is_chief:
        work, resuming = run.path, _check_existing_run(run, config)
    else:
        work = Path(distribute.worker_dir(name, strategy))
        resuming = (work / "checkpoints" / "backup" / "training_metadata.json").exists()
    for line in report.lines():
        console.print(line)
    return run, work, resuming


def fit(model, train_ds, val_ds, config: TrainConfig, steps: int, work: Path, run, chief, console):
    """``model.fit`` with the zoo's callbacks; the run record says how it ended."""
    from zoo import training
    from zoo.progress import RichProgress

    cbs = training.callbacks(work, config, [RichProgress(console, config.epochs, steps)])
    try:
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=config.epochs,
            steps_per_epoch=steps,
            callbacks=cbs,
            verbose=0,
        )
    except BaseException:
        if chief:
            run.update_record(status="interrupted" if _interrupted() else "failed")
        raise
    losses = history.history.get("loss", [])
    if losses and not all(map(_finite, losses)):
        if chief:
            run.update_record(status="failed")
        raise ZooError(
            f"training diverged (loss became NaN/inf in run {run.name}); lower "
            "--learning-rate or use --precision float32"
        )


def _patch_multi_worker_build(model, strategy, ds) -> None:
    """Keras 3's fit() builds a model under a strategy by averaging the first distributed batch
    across replicas, which fails under MultiWorkerMirroredStrategy ("Attempt to convert a value
    (PerReplica...)", keras-team/keras#20585). Build from a local batch instead; the symbolic
    build only needs shapes."""
    x, y = next(iter(ds.take(1)))

    def build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=(x, y))

    object.__setattr__(model, "_maybe_symbolic_build", build)  # bypass Keras attribute tracking


def _interrupted() -> bool:
    import sys

    return isinstance(sys.exc_info()[1], KeyboardInterrupt)


def _distributed(ds):
    """Shard by data, not files: works for every TFDS layout and for mocked datasets."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _training_data(
    config: TrainConfig, spec, download: bool, console: Console, vocab_dir: Path | None
) -> dict[str, Any]:
    """Metadata first (wrong kinds are refused before any download), then prepare, split, fit
    the text vocabulary on the training split only (or reload it when resuming)."""
    import functools

    import tensorflow as tf

    from zoo import data, preprocess

    def inspect(builder=None):
        return data.inspect(
            config.dataset,
            config.data_dir,
            image_size=config.image_size,
            val_fraction=config.val_fraction,
            sequence_length=config.sequence_length,
            builder=builder,
        )

    info = inspect()
    registry.check_dataset(spec, info)
    builder = data.get_builder(config.dataset, config.data_dir)
    data.ensure_prepared(builder, download)
    info = inspect(data.get_builder(config.dataset, config.data_dir))
    if config.train_split:
        info = dataclasses.replace(info, train_split=config.train_split)
    for note in info.notes:
        console.print(f"note: {note}")
    split = functools.partial(data.load_split, builder, info, smoke=config.smoke, seed=config.seed)
    train_raw = split(info.train_split, role="train")
    val_raw = split(info.val_split, role="val")
    test_raw = split(info.test_split, role="test")
    vectorizer, pipe = None, {"preprocess": preprocess.prepare_images}
    if info.modality == "text":
        texts = train_raw.map(lambda x, y: x)
        texts = texts.unbatch() if info.pair_key else texts  # both texts of each pair
        vectorizer = text_encoder(config, spec, texts, vocab_dir, console)
        info = dataclasses.replace(info, vocab_size=int(vectorizer.vocabulary_size()))
        pipe = {"encode": vectorizer}
    n_train = data.count(train_raw)
    if n_train == 0:
        raise ZooError(f"the training split {info.train_split} of {info.name} is empty")
    # Known sizes let Keras size its epochs (the label filter hides them from tf.data).
    train_raw = train_raw.apply(tf.data.experimental.assert_cardinality(n_train))
    val_raw = val_raw.apply(tf.data.experimental.assert_cardinality(data.count(val_raw)))
    make = functools.partial(data.make_pipeline, info=info, batch_size=config.batch_size, **pipe)
    return {
        "info": info,
        "train": train_raw,
        "val": val_raw,
        "test": test_raw,
        "make": make,
        "vectorizer": vectorizer,
        "n_train": n_train,
    }


def text_encoder(config: TrainConfig, spec, texts, vocab_dir: Path | None, console: Console):
    """The saved vocabulary in ``vocab_dir`` (resume, fine-tune), else one learned from
    ``texts`` (the training split only): WordPiece for BERT-style models, words otherwise."""
    from zoo import preprocess

    if vocab_dir is not None and preprocess.has_text_encoder(vocab_dir):
        encoder = preprocess.load_text_encoder(vocab_dir, config.sequence_length)
        if (spec.tokenizer == "wordpiece") != isinstance(encoder, preprocess.WordPiece):
            raise ZooError(
                f"{vocab_dir.parent} tokenizes text differently from {spec.name} (WordPiece vs "
                "words); initialise from a run of the same family"
            )
        return encoder
    console.print("learning the vocabulary from the training split...")
    if spec.tokenizer == "wordpiece":
        return preprocess.learn_wordpiece(
            texts, config.max_tokens, config.sequence_length, config.standardize != "none"
        )
    return preprocess.fit_vectorizer(
        texts, config.max_tokens, config.sequence_length, config.standardize
    )


def _write_run(
    run, config: TrainConfig, info, vectorizer, report, resuming: bool, n_train: int
) -> None:
    import os

    from zoo import preprocess, runs

    run.path.mkdir(parents=True, exist_ok=True)
    if not resuming:
        runs.write_json(run.file(runs.CONFIG), cfg_lib.to_dict(config))
        runs.write_json(run.file(runs.DATASET), info.to_json())
        if vectorizer is not None:
            preprocess.save_text_encoder(vectorizer, run.preprocessor_dir)
    runs.write_json(run.file("distribute.json"), report.to_json())
    run.update_record(
        status="running",
        pid=os.getpid(),
        model=config.model,
        dataset=info.name,
        started=run.record().get("started", _now()),
        resumed=resuming,
        train_examples=n_train,
        **runs.environment_record(),
    )


def _finish(
    run,
    work: Path,
    model,
    d: dict,
    config: TrainConfig,
    chief: bool,
    started: float,
    console: Console,
) -> dict[str, Any]:
    """Load the best weights, evaluate on the test split, and (chief) save model and metrics."""
    import tensorflow as tf

    from zoo import evaluation, runs, training

    info = d["info"]
    best = work / "checkpoints" / "best.weights.h5"
    if best.exists():
        model.load_weights(str(best))
    predict = tf.function(lambda x: tf.nn.softmax(tf.cast(model(x, training=False), tf.float32)))
    probs, labels = evaluation.predict_dataset(
        predict, d["make"](d["test"], training=False, one_hot=False)
    )
    metrics = evaluation.classification_report(probs, labels, info.label_names)
    summary = {
        "run_dir": str(run.path),
        "model": config.model,
        "dataset": info.name,
        "epochs": config.epochs,
        "train_examples": d["n_train"],
        "test_split": info.test_split,
        "best_val_accuracy": training.best_so_far(work / runs.HISTORY),
        "test_accuracy": metrics["accuracy"],
        "test_loss": metrics["loss"],
        "wall_time_s": round(time.time() - started, 1),
        "parameters": int(model.count_params()),
        "metrics": metrics,
    }
    if chief:
        model.save(str(run.file(runs.MODEL)))
        runs.write_json(run.file(runs.METRICS), summary)
        summary["plots"] = write_plots(
            run.path / "plots", metrics, info.label_names, run.file(runs.HISTORY), console
        )
        run.update_record(status="finished", finished=_now())
    console.print(
        f"test accuracy {metrics['accuracy']:.4f} ({info.test_split}, "
        f"{metrics['examples']} examples) in {summary['wall_time_s']}s -> {run.path}"
    )
    return summary


def write_plots(
    folder: Path, metrics: dict, names, history: Path | None, console: Console
) -> list[str]:
    """Training curves and confusion matrix as PNG files (needs matplotlib: the plots extra)."""
    from zoo import plots

    if not plots.available():
        console.print("note: no plots (install matplotlib: pip install 'zoo[plots]')")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    out = [plots.confusion_matrix(metrics["confusion_matrix"], names, folder / "confusion.png")]
    if history is not None and history.exists():
        out.append(plots.training_curves(history, folder / "curves.png"))
    return [str(p) for p in out]


def _resume_epoch(work: Path) -> int:
    """The epoch BackupAndRestore will resume at (it reads the same file)."""
    import json

    meta = work / "checkpoints" / "backup" / "training_metadata.json"
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _finite(x: float) -> bool:
    import math

    return math.isfinite(float(x))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
