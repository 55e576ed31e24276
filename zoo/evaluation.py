"""Classification metrics from predicted probabilities: loss, accuracy, top-5, per class, confusion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def predict_dataset(predict: Callable, ds) -> tuple[np.ndarray, np.ndarray]:
    """Run ``predict`` (batch -> probabilities) over a dataset of (input, int label) batches."""
    probs, labels = [], []
    for x, y in ds:
        probs.append(np.asarray(predict(x), dtype=np.float64))
        labels.append(np.asarray(y))
    if not probs:
        return np.zeros((0, 0)), np.zeros((0,), dtype=np.int64)
    return np.concatenate(probs), np.concatenate(labels).astype(np.int64)


def classification_report(
    probs: np.ndarray, labels: np.ndarray, label_names: Sequence[str]
) -> dict[str, Any]:
    """Metrics as a JSON-ready dict (keys documented in the README, section --json)."""
    n, k = len(labels), len(label_names)
    if n == 0:
        raise ValueError("no examples to evaluate")
    pred = probs.argmax(axis=1)
    picked = np.clip(probs[np.arange(n), labels], 1e-12, 1.0)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    per_class = []
    for i, name in enumerate(label_names):
        tp = confusion[i, i]
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(
            {
                "class": name,
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "support": int(actual),
            }
        )
    report = {
        "examples": int(n),
        "loss": float(-np.log(picked).mean()),
        "accuracy": float((pred == labels).mean()),
        "macro_f1": float(np.mean([c["f1"] for c in per_class])),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }
    if k > 5:
        top5 = np.argsort(-probs, axis=1)[:, :5]
        report["top5_accuracy"] = float((top5 == labels[:, None]).any(axis=1).mean())
    return report
