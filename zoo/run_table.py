"""What `zoo runs` shows: one row per run (what, how far, how good), sorted, and one run in
full (config, record, metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import ZooError

RUN_SORT_KEYS = (
    "name",
    "model",
    "dataset",
    "status",
    "test_accuracy",
    "best_val_accuracy",
    "started",
)


def run_row(run) -> dict[str, Any]:
    """One line of `zoo runs`: what, how far, how good. A run whose files cannot be read is
    listed with status ``corrupt`` and the reason in ``error``, never dropped."""
    try:
        return _row(run)
    except ZooError as e:
        empty = dict.fromkeys(
            ("task", "model", "dataset", "epochs", "best_val_accuracy", "test_accuracy"), None
        )
        return {
            "name": run.name,
            "path": str(run.path),
            **empty,
            "status": "corrupt",
            "epochs_done": 0,
            "started": None,
            "wall_time_s": None,
            "error": str(e),
        }


def _row(run) -> dict[str, Any]:
    from zoo import runs

    config, record = run.config(), run.record()
    metrics_file = run.file(runs.METRICS)
    metrics = (
        runs.read_json(metrics_file, dict, "re-evaluate or retrain the run")
        if metrics_file.exists()
        else {}
    )
    best = runs.best_so_far(run.file(runs.HISTORY))
    done = 0
    if run.file(runs.HISTORY).exists():
        try:
            lines = run.file(runs.HISTORY).read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        done = max(0, len(lines) - 1)
    return {
        "name": run.name,
        "path": str(run.path),
        "task": record.get("task", "classify"),
        "model": _text(config.get("model")),
        "dataset": _text(config.get("dataset")),
        "status": run.status(),
        "epochs_done": done,
        "epochs": config.get("epochs") if isinstance(config.get("epochs"), int) else None,
        "best_val_accuracy": best if best > float("-inf") else None,  # masked-token for mlm
        "test_accuracy": _number(metrics.get("test_accuracy")),
        "started": _text(record.get("started")),
        "wall_time_s": _number(metrics.get("wall_time_s")),
    }


def _number(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else None


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def list_run_rows(
    runs_dir: str | Path | None = None, pattern: str | None = None, sort: str = "started"
) -> list[dict[str, Any]]:
    from zoo import runs

    if sort.lstrip("-") not in RUN_SORT_KEYS:
        raise ZooError(
            f"cannot sort by {sort!r}; choose one of {', '.join(RUN_SORT_KEYS)} "
            "(prefix - for descending)"
        )
    root = Path(runs_dir) if runs_dir else runs.default_runs_dir()
    rows = [run_row(r) for r in runs.list_runs(root, pattern)]
    key = sort.lstrip("-")
    rows.sort(
        key=lambda r: (r[key] is None, r[key] if r[key] is not None else 0),
        reverse=sort.startswith("-"),
    )
    return rows


def show_run(path: str | Path) -> dict[str, Any]:
    from zoo import runs

    run = runs.open_run(path, need_model=False, classifier=False)
    out = run_row(run)
    out.update(config=run.config(), record=run.record())
    metrics = run.file(runs.METRICS)
    out["metrics"] = runs.read_json(metrics) if metrics.exists() else None
    return out
