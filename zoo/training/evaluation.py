"""Classification metrics from predicted probabilities: loss, accuracy, top-5, per class, confusion;
and ``evaluate_target``, which computes them for a run or an export on a dataset split."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError

TTA_MODES = ("none", "flip")  # test-time augmentation of zoo eval


def evaluate_target(
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
    with ``plot_dir``, PNG plots too (confusion matrix, and training curves for a run); with
    ``tta="flip"``, each image's probabilities averaged with its mirror's."""
    from zoo.data import datasets, pipelines
    from zoo.export.loading import load_target
    from zoo.runs.plots import write_plots
    from zoo.runs.progress import default_console

    if tta not in TTA_MODES:
        raise ZooError(f"unknown test-time augmentation {tta!r}; use one of {', '.join(TTA_MODES)}")
    tgt = load_target(target)
    info = tgt.info
    if tta == "flip" and info.modality != "image":
        raise ZooError(
            f"--tta flip mirrors images, and {tgt.path} takes {info.modality}; leave --tta off"
        )
    data_dir = data_dir or tgt.config.get("data_dir")
    name = dataset or info.name
    if name != info.name:
        other = datasets.inspect(name, data_dir)
        if (
            other.modality != info.modality
            or other.label_names != info.label_names
            or bool(other.pair_key) != bool(info.pair_key)
        ):
            raise ZooError(
                f"{name} has other classes or inputs than {info.name}, which the "
                f"target was trained on; evaluate it on {info.name}"
            )
        info = dataclasses.replace(
            info,
            name=name,
            input_key=other.input_key,
            label_key=other.label_key,
            pair_key=other.pair_key,
        )
    builder = datasets.get_builder(name, data_dir)
    datasets.ensure_prepared(builder)
    split = split or info.test_split
    raw = pipelines.load_split(builder, info, split, role="test", smoke=smoke, seed=0)
    ds = pipelines.make_pipeline(raw, info, batch_size=batch_size, training=False, one_hot=False)
    predict = lambda x: tgt.raw(x)["probabilities"]
    probs, labels = predict_dataset(with_flips(predict) if tta == "flip" else predict, ds)
    if len(labels) == 0:
        raise ZooError(f"split {split!r} of {name} is empty")
    report = classification_report(probs, labels, info.label_names)
    out = {"target": str(tgt.path), "kind": tgt.kind, "dataset": name, "split": split}
    out.update(tta=tta, **report)
    if plot_dir:
        history = Path(tgt.path) / "history.csv" if tgt.kind == "run" else None
        out["plots"] = write_plots(
            Path(plot_dir), report, info.label_names, history, default_console(None)
        )
    return out


def with_flips(predict: Callable) -> Callable:
    """Flip test-time augmentation: ``predict`` (uint8 images (batch, h, w, c) -> probabilities)
    averaged over each image and its left-right mirror. Papers report one view; this is the
    cheap extra point (airbench tests this way)."""
    import tensorflow as tf

    def both(x):
        mirrored = tf.reverse(x, axis=[2])
        return (np.asarray(predict(x), np.float64) + np.asarray(predict(mirrored), np.float64)) / 2

    return both


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
