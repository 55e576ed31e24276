"""Tasks: what differs between kinds of training, behind one interface (``Task``).

The engine (``zoo.engine``) runs every task the same way; a task supplies the data adapter
(examples -> model inputs and targets), the model with its head, loss and metrics, and how the
finished model is evaluated. The interface is in ``base.py``; ``classification.py`` and
``masked_lm.py`` are the tasks. A new task is one new module plus one line in ``TASKS``.
"""

from __future__ import annotations

import importlib

from zoo.errors import ZooError
from zoo.tasks.base import Task, TrainingData

__all__ = ["TASKS", "Task", "TrainingData", "get_task"]

TASKS = {  # name recorded in run.json -> "module:class"
    "classify": "zoo.tasks.classification:Classification",
    "mlm": "zoo.tasks.masked_lm:MaskedLM",
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ZooError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)()
