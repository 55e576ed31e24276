"""The one training loop: every command that trains (``zoo train``, ``zoo pretrain``,
``zoo resume``) runs ``train``; ``zoo benchmark`` times the step ``build_model`` compiles.

The phases read top to bottom: the run (its lock, before anything else) -> hardware (seed,
determinism, strategy, precision, XLA) -> data (the task's adapter) -> model (in the strategy's
scope; a resumed run's state restored) -> fit (callbacks: guard, best weights, history,
TensorBoard, progress, resume state) -> finish. What differs between tasks lives in
``zoo.tasks``; nothing here knows a modality or a task by name.

The finish can be resumed at every step: the best weights and the resume states stay until
``model.keras`` and ``metrics.json`` are written and the run is marked finished, so a kill at
any moment after the last epoch makes the rerun evaluate and save, not retrain.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo import config as cfg_lib
from zoo.config import RuntimeConfig, TrainConfig
from zoo.errors import ZooError, with_article
from zoo.models import registry
from zoo.runs import checkpoints, interrupts, rundir
from zoo.runs.progress import default_console
from zoo.tasks import Task, TrainingData
from zoo.training import distribute, finetune
from zoo.training.distribute import StrategyReport, restores_precision

# What a run directory may hold before its config.json is written (a run killed while starting):
# such a directory is started afresh; anything else in it is not the zoo's to overwrite.
STARTING = {
    rundir.LOCK,
    rundir.DATASET,
    rundir.DISTRIBUTE,
    rundir.RUN,
    "preprocessor",
    "checkpoints",
    "logs",
}


@dataclass(frozen=True)
class Fitting:
    """What the caller adds to fit and finish: the signal request, extra callbacks, a per-epoch
    hook, and whether the finish evaluates on the test split."""

    stop: Any
    extra: tuple = ()
    on_epoch: Callable[[int, dict], None] | None = None
    test: bool = True


@dataclass(frozen=True)
class Hardware:
    """The resolved runtime: strategy, XLA, and the report printed and stored with the run."""

    strategy: Any
    jit: bool
    report: StrategyReport


# ---------------------------------------------------------------------------------------------
# Setup and model: shared by train and benchmark
# ---------------------------------------------------------------------------------------------


def setup(runtime: RuntimeConfig, modality: str, tpu: str | None = None) -> Hardware:
    """Seeds, op determinism, strategy, precision and XLA."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(runtime.seed)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = distribute.create_strategy(runtime.strategy, tpu)
    precision = distribute.resolve_precision(runtime.precision, strategy, modality)
    distribute.set_precision(precision)
    jit = distribute.resolve_xla(runtime.xla, strategy)
    report = distribute.report(strategy, runtime.batch_size, precision, jit)
    return Hardware(strategy, jit, report)


def build_model(
    task: Task,
    spec,
    data: TrainingData,
    config: TrainConfig,
    hw: Hardware,
    steps: int,
    per_execution: int = 1,
):
    """The task's model, compiled, inside the strategy's scope: exactly what ``train`` fits."""
    with hw.strategy.scope():
        model = task.build(spec, data, config)
        task.compile(model, config, steps, hw.jit, per_execution)
    return model


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


@restores_precision
def train(
    task: Task,
    config: TrainConfig,
    run_name: str | None = None,
    runs_dir: str | Path | None = None,
    *,
    tpu: str | None = None,
    download: bool = True,
    export_to: str | Path | None = None,
    console: Console | None = None,
    extra_callbacks: tuple = (),
    on_epoch: Callable[[int, dict], None] | None = None,
    test: bool = True,
) -> dict[str, Any]:
    """Train ``config.model`` for ``task`` into ``runs_dir/run_name``; a run interrupted earlier
    with the same config resumes. Returns the run summary (also metrics.json). With
    ``export_to``, the chief also exports the finished run there (verified SavedModel).
    ``extra_callbacks`` join fit's callbacks (benchmarks measure with them); ``on_epoch(epochs
    done, logs)`` runs after each epoch's state is saved and may raise ``rundir.RunStopped``
    (a study prunes a trial so); ``test=False`` finishes without touching the test split (a
    study's trials: only the chosen one is tested, once)."""
    console = default_console(console)
    started = time.time()
    spec = registry.get_spec(config.model)
    task.check(spec)
    name = run_name or rundir.new_run_name(spec.name, config.dataset)
    rundir.check_run_name(name)
    root = Path(runs_dir) if runs_dir else rundir.default_runs_dir()
    work = None if distribute.is_chief_task() else distribute.worker_dir(name)
    with rundir.owned(root / name, work) as run, interrupts.handled() as stop:
        try:
            state = resume_state(run, task, config)
            run.started = started
            fitting = Fitting(stop, tuple(extra_callbacks), on_epoch, test)
            summary = _phases(task, spec, config, run, state, fitting, tpu, download, console)
        except BaseException as error:
            ended = _ended(run, error)
            if ended is error:
                raise
            raise ended from None
    if run.chief:
        console.print(task.report(summary))
    if export_to is not None and run.chief:
        from zoo.export.savedmodel import export_run

        summary["export"] = export_run(run.path, export_to, verify=True, console=console)
    return summary


def resume(
    run_dir: str | Path,
    *,
    tpu: str | None = None,
    data_dir: str | None = None,
    download: bool = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """``zoo resume``: continue a run from its own config.json, whatever its task."""
    from zoo.tasks import get_task

    run = rundir.Run(Path(run_dir))
    if not run.file(rundir.CONFIG).is_file():
        raise ZooError(
            f"{run_dir} is not a run directory (no {rundir.CONFIG}); `zoo runs` lists runs"
        )
    saved = run.config()
    if data_dir:
        saved["data_dir"] = data_dir
    config = cfg_lib.from_dict(TrainConfig, saved, where=str(run.file(rundir.CONFIG)))
    task = get_task(run.record().get("task", "classify"))
    return train(
        task, config, run.name, run.path.parent, tpu=tpu, download=download, console=console
    )


def _phases(task, spec, config, run, state, fitting, tpu, download, console) -> dict[str, Any]:
    # --- Hardware ---------------------------------------------------------------------------------
    hw = setup(_runtime(config, run, state), spec.modality, tpu)
    for line in hw.report.lines():
        console.print(line)
    note = distribute.precision_note(hw.report.precision, hw.strategy)
    if note:
        console.print(note)

    # --- Data: a resumed run keeps its vocabulary, a fine-tune its source's -----------------------
    source = finetune.source_for(config.init_from, run) if state == "new" else None
    vocab_dir = (
        run.preprocessor_dir if state != "new" else getattr(source, "preprocessor_dir", None)
    )
    data = task.data(config, spec, vocab_dir=vocab_dir, download=download, console=console)
    steps, per_execution = _execution_plan(config, data, hw, console)

    # --- Model, in the strategy's scope: a resumed run's as it began, a fine-tune's as its source -
    if state != "new":
        began = registry.run_architecture(spec.name, config.model_config, run.record())
        config = dataclasses.replace(config, model_config=began)
    elif source is not None:
        config = finetune.source_architecture(config, spec, source, console)
    model = build_model(task, spec, data, config, hw, steps, per_execution)
    first = 0
    if state == "new":
        finetune.warm_start(model, source, spec, console)
    else:
        with hw.strategy.scope():
            first = checkpoints.restore(model, run.checkpoints)
        # the run's clock goes on from the restored state: wall time sums the processes' time
        run.started -= checkpoints.elapsed(run.checkpoints, first)
    if run.chief:
        _start(run, task, config, data, hw.report, resumed=state != "new")
    how = {"new": "new", "resume": f"resuming at epoch {first + 1}", "finish": "finishing"}[state]
    console.print(
        f"run {run.path} ({how}): {task.describe(spec, data)}, {steps} steps/epoch, "
        f"{model.count_params():,} parameters"
    )

    # --- Fit --------------------------------------------------------------------------------------
    if state != "finish" and first < config.epochs:
        fit(task, model, data, config, hw, run, first, steps, fitting, console)
    run.mark("running", trained=True)

    # --- Finish -----------------------------------------------------------------------------------
    return finish(task, model, data, config, run, console, test=fitting.test)


def _execution_plan(config, data, hw, console) -> tuple[int, int]:
    """(steps per epoch, steps per tf.function call): ``pipelines.execution_plan``, said when
    it is not one step a call; one under MirroredStrategy, where Keras 3 fails on several."""
    from zoo.data import pipelines

    asked = config.steps_per_execution
    if asked > 1 and "Mirrored" in hw.report.strategy:
        console.print(
            f"note: one step per tf.function call under {hw.report.strategy}, not {asked}: "
            "Keras 3 fails on several there (keras-team/keras#19246)"
        )
        asked = 1
    steps, per_execution = pipelines.execution_plan(data.examples, config.batch_size, asked)
    if asked > 1:
        full = pipelines.steps_per_epoch(data.examples, config.batch_size)
        if per_execution == steps:
            how = "a whole epoch"
        elif steps == full:
            how = f"the divisor of the epoch's {steps} steps nearest {asked}"
        else:
            how = f"each epoch cut from {full} to {steps} steps, a multiple of it"
        console.print(f"{per_execution} steps per tf.function call ({how})")
    return steps, per_execution


def resume_state(run, task: Task, config: TrainConfig) -> str:
    """new | resume | finish (trained, not yet saved and evaluated); refuses what must not be
    touched: a finished run, another config, a directory that is not a run."""
    if not run.chief:
        return "resume" if checkpoints.exists(run.checkpoints) else "new"
    if not run.file(rundir.CONFIG).exists():
        foreign = sorted(p.name for p in run.path.iterdir() if p.name not in STARTING)
        if foreign:
            raise ZooError(
                f"{run.path} exists and is not a run directory (it holds {foreign[0]}); pick "
                "another --run-name"
            )
        return "new"
    record = run.record()
    if record.get("status") == "finished":
        raise ZooError(
            f"run {run.name} already finished; pick another --run-name (or `zoo eval {run.path}`)"
        )
    saved, wanted = run.config(), cfg_lib.to_dict(config)
    moved = {"data_dir"}  # the same data in another place
    differ = sorted(
        k for k in set(saved) | set(wanted) if k not in moved and saved.get(k) != wanted.get(k)
    )
    if differ:
        raise ZooError(
            f"run {run.name} exists with a different config ({', '.join(differ[:5])}); nothing "
            f"was changed: resume it as it was with `zoo resume {run.path}`, or pick another "
            "--run-name to start a new run"
        )
    if record.get("task", "classify") != task.name:
        raise ZooError(
            f"run {run.name} is {with_article(record.get('task', 'classify'))} run, not "
            f"{task.name}; resume it "
            f"with `zoo resume {run.path}`"
        )
    return "finish" if record.get("trained") else "resume"


def fit(task, model, data, config, hw, run, first: int, steps: int, fitting, console) -> None:
    """``model.fit`` from epoch ``first`` with the standard callbacks and the progress display;
    ``fitting``: the signal StopRequest, the caller's extra callbacks and per-epoch hook."""
    from zoo.runs import callbacks
    from zoo.runs.progress import RichProgress

    checkpoints.trim_history(run.work / rundir.HISTORY, first)  # rows a kill left past the state
    train_ds = distribute.shard_by_data(data.train(first, steps))
    val_ds = distribute.shard_by_data(data.val)
    if "MultiWorker" in hw.report.strategy:
        distribute.patch_keras_for_multi_worker()
        distribute.patch_multi_worker_build(model, hw.strategy, val_ds)
    progress = RichProgress(console, config.epochs, steps)
    cbs = callbacks.standard(
        run,
        fitting.stop,
        task.monitor,
        config.optimization,
        [progress, *fitting.extra],
        fitting.on_epoch,
    )
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        initial_epoch=first,
        steps_per_epoch=steps,
        callbacks=cbs,
        verbose=0,
    )


def finish(task, model, data, config, run, console, test: bool = True) -> dict[str, Any]:
    """The kept weights (best or last) -> finite check -> model.keras -> the task's evaluation ->
    metrics.json -> plots -> finished -> resume states removed. Only the chief writes; each step
    is atomic and the sequence starts over if killed, so a rerun never retrains a trained run."""
    summary = {
        "run_dir": str(run.path),
        "model": config.model,
        "dataset": data.info.name,
        "epochs": config.epochs,
        **data.facts,
        "parameters": int(model.count_params()),
    }
    if not run.chief:
        return {**summary, "wall_time_s": round(run.elapsed(), 1)}
    if not run.exists():
        raise ZooError(f"run directory {run.path} was removed; nothing was saved: start again")
    from zoo.export import loading

    best = run.checkpoints / checkpoints.BEST
    if config.keep == "best" and best.exists():
        model.load_weights(str(best))
    summary["weights"] = config.keep
    loading.check_finite(model, f"run {run.name}")  # never saved as finished with NaN weights
    rundir.write_staged(run.file(rundir.MODEL), lambda tmp: model.save(str(tmp)))
    if test:
        summary.update(task.evaluate(run, model, data, config))
    else:
        summary.update(rundir.kept_validation(run.file(rundir.HISTORY), task.monitor, config.keep))
    summary["wall_time_s"] = round(run.elapsed(), 1)  # start to save, over resumes
    if not config.smoke:  # the probe takes seconds: not for smoke checks
        summary["compute"] = _compute(model, data, config, summary["wall_time_s"])
    rundir.write_json(run.file(rundir.METRICS), summary)
    summary["plots"] = task.plots(run, data, summary, console)
    run.mark("finished", finished=rundir.now())
    checkpoints.remove(run.checkpoints)
    return summary


def _compute(model, data, config, wall_time_s: float) -> dict[str, Any]:
    """Training FLOPs (3 x the training forward pass x examples x epochs) over the run's wall
    time, and their share of this machine's matmul peak in the run's compute dtype (probed
    now): how well the run used the hardware, start to tested."""
    import keras

    from zoo.model_info import hardware_efficiency

    per_s = data.examples * config.epochs / max(wall_time_s, 1e-9)
    precision = keras.config.dtype_policy().name
    out = hardware_efficiency(model, data.info, per_s, precision, training=True)
    out["train_flops"] = 3 * out["flops_per_example"] * data.examples * config.epochs
    return out


# ---------------------------------------------------------------------------------------------
# The run's records and how it ended
# ---------------------------------------------------------------------------------------------


def _runtime(config, run, state: str) -> RuntimeConfig:
    """The run's runtime settings; a resumed run keeps the precision `auto` picked at its start
    (distribute.json), so it computes as an uninterrupted run would."""
    runtime = config.runtime
    if state == "new" or runtime.precision != "auto" or not run.file(rundir.DISTRIBUTE).exists():
        return runtime
    before = rundir.read_json(run.file(rundir.DISTRIBUTE), dict).get("precision")
    return (
        dataclasses.replace(runtime, precision=before) if before in cfg_lib.PRECISIONS else runtime
    )


def _start(run, task, config, data, report, resumed: bool) -> None:
    """Write what the run needs besides its weights; config.json last, since it is what makes
    the directory a run (a kill before it leaves a directory that starts afresh)."""
    from zoo.data import preprocess

    if not resumed:
        rundir.write_json(run.file(rundir.DATASET), data.info.to_json())
        if data.encoder is not None:
            preprocess.save_text_encoder(data.encoder, run.preprocessor_dir)
        rundir.write_json(run.file(rundir.CONFIG), cfg_lib.to_dict(config))
    rundir.write_json(run.file(rundir.DISTRIBUTE), report.to_json())
    record, env = run.record(), rundir.environment_record()
    if resumed and record.get("command"):  # the command that made the run stays; resumes add
        env["resumed_with"] = [*record.get("resumed_with", []), env["command"]]
        env["command"] = record["command"]
    run.update_record(
        status="running",
        pid=os.getpid(),
        task=task.name,
        model=config.model,
        dataset=data.info.name,
        started=record.get("started", rundir.now()),
        resumed=resumed,
        architecture=registry.architecture(config.model, config.model_config),
        train_examples=data.examples,
        **env,
    )
    run.active = True


def _ended(run, error: BaseException) -> BaseException:
    """Record how a run that started here ended; -> the exception for the user (one line)."""
    if isinstance(error, rundir.RunStopped):
        if run.active:
            run.mark(error.status, ended=rundir.now())
        return error
    signum = getattr(error, "signum", None)
    if isinstance(error, KeyboardInterrupt):
        signum = 2
    started = run.active
    if signum is not None:
        if started:
            run.mark("interrupted", ended=rundir.now())
        name = interrupts.SIGNALS.get(signum, f"signal {signum}")
        if started:
            message = (
                f"{name}: run {run.name} stopped; its last finished epoch is saved. Resume with: "
                f"zoo resume {run.path}"
            )
        else:
            message = f"{name}: run {run.name} stopped before training began; nothing was saved"
        return interrupts.Interrupted(signum, message)
    disk = rundir.disk_full_reason(error)
    if started:
        try:
            why = (str(error).splitlines() or [type(error).__name__])[0][:300]
            run.mark("failed", ended=rundir.now(), error=why)
        except ZooError:
            pass  # the disk is full: the record cannot be written either
    if disk:
        return ZooError(
            f"the disk is full ({disk}); run {run.name} stopped. Free some space, then resume "
            f"with: zoo resume {run.path}"
        )
    return error
