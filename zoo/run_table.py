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
    """One line of `zoo runs`: what, how far, how good."""
    from zoo import runs, training

    try:
        config = run.config()
    except ZooError:
        config = {}
    record = run.record()
    metrics_file = run.file(runs.METRICS)
    metrics = runs.read_json(metrics_file) if metrics_file.exists() else {}
    best = training.best_so_far(run.file(runs.HISTORY))
    done = 0
    if run.file(runs.HISTORY).exists():
        done = max(0, len(run.file(runs.HISTORY).read_text().strip().splitlines()) - 1)
    return {
        "name": run.name,
        "path": str(run.path),
        "task": record.get("task", "classify"),
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "status": run.status(),
        "epochs_done": done,
        "epochs": config.get("epochs"),
        "best_val_accuracy": best if best > float("-inf") else None,  # masked-token for mlm
        "test_accuracy": metrics.get("test_accuracy"),
        "started": record.get("started"),
        "wall_time_s": metrics.get("wall_time_s"),
    }


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
