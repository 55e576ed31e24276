"""The callbacks every training run gets, in the order they must run at an epoch's end:
guard (signals, non-finite numbers, a vanished run directory) first, so nothing is written for
a bad epoch; best weights, history and TensorBoard next; the resume state last, so a state on
disk always means everything of that epoch was written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import math

import keras

from zoo.runs import checkpoints
from zoo.runs import rundir
from zoo.config import OptimizationConfig
from zoo.errors import ZooError
from zoo.runs.interrupts import Interrupted, StopRequest


class Guard(keras.callbacks.Callback):
    """Stops at a step boundary on SIGINT/SIGTERM; a non-finite loss or validation loss stops
    the run naming epoch and step; a run directory removed under the run stops it before any
    callback could recreate part of it."""

    def __init__(self, run, stop: StopRequest):
        super().__init__()
        self.run, self.stop, self.epoch = run, stop, 0

    def on_train_begin(self, logs=None):
        self.stop.in_fit = True

    def on_train_end(self, logs=None):
        self.stop.in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stop.signum is not None:
            raise Interrupted(self.stop.signum)
        calls = getattr(self.model, "steps_per_execution", 1)  # Keras reports each call's last
        steps = f"step {batch + 1}" if calls == 1 else f"steps {batch + 2 - calls}-{batch + 1}"
        self._finite(logs, "loss", f"at epoch {self.epoch + 1}, {steps}")

    def on_epoch_end(self, epoch, logs=None):
        if not self.run.exists():
            raise ZooError(
                f"run directory {self.run.path} was removed during training; nothing more was "
                "written: start the run again"
            )
        self._finite(logs, "val_loss", f"after epoch {epoch + 1}")

    def _finite(self, logs, key: str, when: str) -> None:
        value = (logs or {}).get(key)
        if value is not None and not math.isfinite(float(value)):
            what = "validation loss" if key.startswith("val") else "loss"
            raise ZooError(
                f"training diverged: the {what} is {float(value)} {when} of run {self.run.name}; "
                "lower --learning-rate, add --warmup-epochs or use --precision float32, and "
                "train again with another --run-name"
            )


class SaveBest(keras.callbacks.Callback):
    """The best validation epoch's weights, written through ``rundir.write_staged``. Keras's
    ``ModelCheckpoint`` writes HDF5 straight into the run directory, where a full disk fails
    inside HDF5: tracebacks at exit, once a segfault."""

    def __init__(self, path: Path, monitor: str, best: float):
        super().__init__()
        self.path, self.monitor, self.best = path, monitor, best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not float(value) > self.best:  # NaN never counts as better
            return
        rundir.write_staged(self.path, lambda tmp: self.model.save_weights(str(tmp)))
        self.best = float(value)


class Lookahead(keras.callbacks.Callback):
    """Lookahead of the weights as airbench does it (Jordan 2024): every ``every`` steps, and at
    each epoch's end, the float weights (norm statistics included) become their moving average,
    ``avg = d * avg + (1 - d) * w; w = avg`` with ``d = 0.95**every * (t / T)**3`` at step t of
    T: no averaging early on, more and more towards the end. The epoch-end sync (airbench syncs
    on the step count alone) leaves nothing outside the model at a checkpoint, so a resumed run
    continues exactly. Keras has EMA in its optimizers (``use_ema``), but that one keeps the
    average apart and swaps it in at the end, not this pull-back of the live weights."""

    def __init__(self, every: int):
        super().__init__()
        self.every = every

    def on_train_begin(self, logs=None):
        self.weights = [w for w in self.model.weights if "float" in str(w.dtype)]
        self.average = [keras.Variable(w.numpy(), trainable=False) for w in self.weights]  # copies
        self.total = max(1, self.params["epochs"] * self.params["steps"])
        self.synced = int(self.model.optimizer.iterations)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        if step // self.every > self.synced // self.every:
            self.sync(step)

    def on_epoch_end(self, epoch, logs=None):
        self.sync(int(self.model.optimizer.iterations))

    def sync(self, step: int) -> None:
        decay = 0.95**self.every * min(1.0, step / self.total) ** 3
        for w, avg in zip(self.weights, self.average):
            avg.assign(decay * avg.value + (1 - decay) * w.value)
            w.assign(avg.value)
        self.synced = step


class SaveState(keras.callbacks.Callback):
    """The resume state after every epoch (``zoo.runs.checkpoints``)."""

    def __init__(self, run, stop: StopRequest):
        super().__init__()
        self.run, self.stop = run, stop

    def on_epoch_end(self, epoch, logs=None):
        checkpoints.save(self.model, self.run.checkpoints, epoch + 1, self.run.elapsed())
        self.stop.check()  # a signal that arrived during the epoch-end writes


def standard(
    run,
    stop: StopRequest,
    monitor: str,
    optimization: OptimizationConfig,
    extra=(),
    on_epoch: Callable[[int, dict], None] | None = None,
) -> list:
    """Guard, best checkpoint (unless the run keeps its last weights), history, TensorBoard,
    early stopping, ``extra``, resume state, then ``on_epoch(epochs done, logs)`` (a caller's
    per-epoch report, e.g. a study's pruning: it sees the epoch only once it is saved)."""
    work = run.work
    ckpt = run.checkpoints
    ckpt.mkdir(parents=True, exist_ok=True)
    cbs = [Guard(run, stop)]
    if optimization.lookahead:  # before anything saves the weights of the epoch
        cbs.append(Lookahead(optimization.lookahead))
    if optimization.keep == "best":
        best = rundir.best_so_far(work / "history.csv", monitor)
        cbs.append(SaveBest(ckpt / checkpoints.BEST, monitor, best))
    cbs += [
        keras.callbacks.CSVLogger(str(work / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(work / "logs"), write_graph=False, profile_batch=0),
    ]
    if optimization.early_stopping:
        patience = optimization.early_stopping
        cbs.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience))
    cbs = [*cbs, *extra, SaveState(run, stop)]
    if on_epoch is not None:
        cbs.append(
            keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: on_epoch(e + 1, logs))
        )
    return cbs
