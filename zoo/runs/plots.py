"""PNG plots of a run: training curves and the confusion matrix (matplotlib, the `plots` extra)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def training_curves(history_csv: Path, out: Path) -> Path:
    """Loss and accuracy per epoch, train vs validation, side by side."""
    plt = _pyplot()
    with Path(history_csv).open() as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [float(r[prefix + metric]) for r in rows if r.get(prefix + metric)]
            if values:
                ax.plot(epochs[: len(values)], values, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def confusion_matrix(
    matrix: Sequence[Sequence[int]],
    names: Sequence[str],
    out: Path,
    title: str = "confusion matrix",
) -> Path:
    """Rows: true class; columns: predicted class; cells annotated when the matrix is small."""
    import numpy as np

    plt = _pyplot()
    cm = np.asarray(matrix)
    k = len(names)
    size = min(14, 3 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    if k <= 20:
        ax.set_xticks(range(k), [n[:14] for n in names], rotation=45, ha="right")
        ax.set_yticks(range(k), [n[:14] for n in names])
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if cm[i, j] > cm.max() / 2 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_plots(folder: Path, metrics: dict, names, history: Path | None, console) -> list[str]:
    """Training curves and confusion matrix as PNG files (needs matplotlib: the plots extra)."""
    if not available():
        console.print("note: no plots (matplotlib is missing: pip install matplotlib)")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    out = [confusion_matrix(metrics["confusion_matrix"], names, folder / "confusion.png")]
    if history is not None and history.exists():
        out.append(training_curves(history, folder / "curves.png"))
    return [str(p) for p in out]
