"""A rich progress display for ``keras.Model.fit``: one live bar per epoch on a terminal, one line
per epoch, and in logs (no terminal) a progress line every ``log_seconds`` within long epochs."""

from __future__ import annotations

import time

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def default_console(console: Console | None) -> Console:
    """The console to print to: the caller's, or stderr (stdout may carry --json)."""
    return console or Console(stderr=True, highlight=False)


def format_metrics(logs: dict) -> str:
    order = ["loss", "accuracy", "top5", "val_loss", "val_accuracy", "val_top5"]
    keys = [k for k in order if k in logs] + sorted(k for k in logs if k not in order)
    return "  ".join(f"{k} {float(logs[k]):.4f}" for k in keys if k != "learning_rate")


class RichProgress(keras.callbacks.Callback):
    """Live bar with running metrics on a terminal. When output is a log file (nohup, a batch job)
    a live bar cannot draw, so a plain line (step, elapsed, remaining, metrics) is printed at most
    every ``log_seconds`` instead; epochs shorter than that print only their epoch line."""

    def __init__(
        self,
        console: Console,
        epochs: int,
        steps: int,
        every: int = 5,
        log_seconds: float = 60.0,
        clock=time.perf_counter,
    ):
        super().__init__()
        self.console, self.epochs, self.steps, self.every = console, epochs, steps, max(1, every)
        self.log_seconds, self.clock = log_seconds, clock
        self.logging = not console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
            transient=True,
            disable=self.logging,
        )
        self.task, self.task_epoch = None, 0
        self.started = 0.0
        self.logged = 0.0
        self.shown = 0

    def on_train_begin(self, logs=None):
        self.progress.start()

    def on_train_end(self, logs=None):
        self.progress.stop()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = self.logged = self.clock()
        self.shown = 0
        self.task_epoch = epoch + 1
        self.task = self.progress.add_task(
            "train", total=self.steps, epoch=epoch + 1, epochs=self.epochs, metrics=""
        )

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution > 1 Keras reports every few steps: update on progress made.
        if self.task is not None and batch + 1 >= self.shown + self.every:
            self.shown = batch + 1
            self.progress.update(self.task, completed=batch + 1, metrics=format_metrics(logs or {}))
        if self.logging and (now := self.clock()) - self.logged >= self.log_seconds:
            self.logged, done, took = now, batch + 1, now - self.started
            left = took / done * (self.steps - done)
            self.console.print(
                f"epoch {self.task_epoch}/{self.epochs}  step {done}/{self.steps}  {took:.0f}s  "
                f"about {left:.0f}s left  {format_metrics(logs or {})}",
                highlight=False,
            )

    def on_epoch_end(self, epoch, logs=None):
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        took = self.clock() - self.started
        self.console.print(
            f"epoch {epoch + 1}/{self.epochs}  {took:.1f}s  {format_metrics(logs or {})}",
            highlight=False,
        )
