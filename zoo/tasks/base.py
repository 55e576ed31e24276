"""The task interface and the typed bundle of data a task hands the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


@dataclass(frozen=True)
class TrainingData:
    """Everything the engine needs of the data, whatever the task."""

    info: Any  # DatasetInfo the model is built for
    examples: int  # training examples per epoch
    train: Callable[[int, int], Any]  # (first epoch, steps an epoch) -> batches from there on
    val: Any  # validation batches
    encoder: Any = None  # text encoder saved in the run's preprocessor/ (None for images)
    facts: dict = field(default_factory=dict)  # what the run's summary states about its data
    # n -> the first n training inputs as the model takes them, unaugmented (data-fitted layers)
    sample: Callable[[int], Any] | None = None


class Task:
    """What differs between tasks. Subclasses set ``name`` and implement the methods."""

    name = ""
    monitor = "val_accuracy"  # the best checkpoint maximises this

    def check(self, spec) -> None:
        """ZooError unless the model family supports this task."""
        if self.name not in spec.tasks:
            able = ", ".join(s for s in spec.tasks)
            raise ZooError(f"{spec.name} does not support the {self.name} task (it does: {able})")

    def recipe(self, spec) -> dict:
        """The family's training defaults for this task."""
        return spec.recipe

    def data(
        self, config, spec, *, vocab_dir: Path | None, download: bool, console
    ) -> TrainingData:
        raise NotImplementedError

    def build(self, spec, data: TrainingData, config):
        """The uncompiled model (backbone and head), inside the strategy's scope."""
        raise NotImplementedError

    def compile(
        self, model, config, steps_per_epoch: int, jit: bool, per_execution: int = 1
    ) -> None:
        """Optimizer, loss and metrics; ``per_execution`` steps run in one tf.function call."""
        raise NotImplementedError

    def evaluate(self, run, model, data: TrainingData, config) -> dict[str, Any]:
        """Final metrics of the finished run (its model.keras is written), for metrics.json."""
        raise NotImplementedError

    def plots(self, run, data: TrainingData, summary: dict, console) -> list[str]:
        """PNG files of the finished run (training curves; needs matplotlib)."""
        from zoo.runs import plots

        if not plots.available():
            return []
        folder = run.path / "plots"
        folder.mkdir(parents=True, exist_ok=True)
        return [str(plots.training_curves(run.file("history.csv"), folder / "curves.png"))]

    def describe(self, spec, data: TrainingData) -> str:
        """What is being trained, for the run's first line."""
        return f"{spec.name} on {data.info.name}, {data.examples} training examples"

    def report(self, summary: dict) -> str:
        """The run's last line."""
        raise NotImplementedError
