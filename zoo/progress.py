"""A rich progress display for ``keras.Model.fit``: one live bar per epoch, one line per epoch."""

from __future__ import annotations

import time

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def format_metrics(logs: dict) -> str:
    order = ["loss", "accuracy", "top5", "val_loss", "val_accuracy", "val_top5"]
    keys = [k for k in order if k in logs] + sorted(k for k in logs if k not in order)
    return "  ".join(f"{k} {float(logs[k]):.4f}" for k in keys if k != "learning_rate")


class RichProgress(keras.callbacks.Callback):
    """Live bar with running metrics on a terminal; plain epoch lines when output is a log file."""

    def __init__(self, console: Console, epochs: int, steps: int, every: int = 5):
        super().__init__()
        self.console, self.epochs, self.steps, self.every = console, epochs, steps, max(1, every)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = None
        self.started = 0.0
        self.shown = 0

    def on_train_begin(self, logs=None):
        self.progress.start()

    def on_train_end(self, logs=None):
        self.progress.stop()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        self.shown = 0
        self.task = self.progress.add_task(
            "train", total=self.steps, epoch=epoch + 1, epochs=self.epochs, metrics=""
        )

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution > 1 Keras reports every few steps: update on progress made.
        if self.task is not None and batch + 1 >= self.shown + self.every:
            self.shown = batch + 1
            self.progress.update(self.task, completed=batch + 1, metrics=format_metrics(logs or {}))

    def on_epoch_end(self, epoch, logs=None):
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        took = time.perf_counter() - self.started
        self.console.print(
            f"epoch {epoch + 1}/{self.epochs}  {took:.1f}s  {format_metrics(logs or {})}",
            highlight=False,
        )
