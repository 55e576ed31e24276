"""Optimizer, schedule, compile and callbacks for ``keras.Model.fit``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import keras

from zoo.config import TrainConfig

NO_DECAY = ["bias", "gamma", "beta", "position_embedding", "class_token"]


def learning_rate(cfg: TrainConfig, steps_per_epoch: int):
    """A float, or a Keras schedule: linear warmup then cosine decay to 0 (or flat for constant)."""
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    if cfg.schedule == "constant" and not warmup:
        return cfg.learning_rate
    total = max(1, cfg.epochs * steps_per_epoch - warmup)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else cfg.learning_rate,
        decay_steps=total,
        alpha=1.0 if cfg.schedule == "constant" else 0.0,  # alpha=1 keeps the rate flat
        warmup_target=cfg.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr = learning_rate(cfg, steps_per_epoch)
    wd = cfg.weight_decay or None
    if cfg.optimizer == "sgd":
        opt = keras.optimizers.SGD(
            lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, weight_decay=wd
        )
    elif cfg.optimizer == "rmsprop":
        opt = keras.optimizers.RMSprop(lr, momentum=cfg.momentum, weight_decay=wd)
    elif cfg.optimizer == "adam":
        opt = keras.optimizers.Adam(lr, weight_decay=wd)
    else:
        opt = keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay)
    if cfg.weight_decay:
        opt.exclude_from_weight_decay(var_names=NO_DECAY)
    return opt


def compile_model(
    model: keras.Model, cfg: TrainConfig, num_classes: int, steps_per_epoch: int, jit_compile: bool
) -> None:
    metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    if num_classes > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5"))
    model.compile(
        optimizer=make_optimizer(cfg, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=cfg.label_smoothing
        ),
        metrics=metrics,
        jit_compile=jit_compile,
        steps_per_execution=cfg.steps_per_execution,
    )


def best_so_far(history_csv: Path, monitor: str = "val_accuracy") -> float:
    """The best monitored value of the epochs already in history.csv (for a resumed run)."""
    if not history_csv.exists():
        return -math.inf
    with history_csv.open() as f:
        values = [float(r[monitor]) for r in csv.DictReader(f) if r.get(monitor)]
    return max(values, default=-math.inf)


def callbacks(work_path: Path, cfg: TrainConfig, extra: list) -> list:
    """Resume-on-restart, best checkpoint, history, TensorBoard, NaN guard, early stopping.

    ``work_path`` is the run directory on the chief and a stable scratch directory on other
    workers, so only the chief writes what stays."""
    ckpt = work_path / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    best = keras.callbacks.ModelCheckpoint(
        str(ckpt / "best.weights.h5"),
        monitor="val_accuracy",
        mode="max",
        save_best_only=True,
        save_weights_only=True,
    )
    best.best = best_so_far(work_path / "history.csv")
    cbs = [
        keras.callbacks.BackupAndRestore(str(ckpt / "backup")),
        keras.callbacks.TerminateOnNaN(),
        best,
        keras.callbacks.CSVLogger(str(work_path / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(work_path / "logs"), write_graph=False, profile_batch=0),
    ]
    if cfg.early_stopping:
        cbs.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.early_stopping))
    return cbs + list(extra)
