"""What `zoo runs` shows: one row per run (what, how far, how good), sorted, and one run in
full (config, record, metrics); for finished runs, the results table (CSV or Markdown) with the
command that reproduces each row."""

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
    from zoo.runs import rundir

    config, record = run.config(), run.record()
    metrics_file = run.file(rundir.METRICS)
    metrics = (
        rundir.read_json(metrics_file, dict, "re-evaluate or retrain the run")
        if metrics_file.exists()
        else {}
    )
    best = rundir.best_so_far(run.file(rundir.HISTORY))
    done = 0
    if run.file(rundir.HISTORY).exists():
        try:
            lines = run.file(rundir.HISTORY).read_text(errors="replace").strip().splitlines()
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
    from zoo.runs import rundir

    if sort.lstrip("-") not in RUN_SORT_KEYS:
        raise ZooError(
            f"cannot sort by {sort!r}; choose one of {', '.join(RUN_SORT_KEYS)} "
            "(prefix - for descending)"
        )
    root = Path(runs_dir) if runs_dir else rundir.default_runs_dir()
    rows = [run_row(r) for r in rundir.list_runs(root, pattern)]
    key = sort.lstrip("-")
    rows.sort(
        key=lambda r: (r[key] is None, r[key] if r[key] is not None else 0),
        reverse=sort.startswith("-"),
    )
    return rows


def show_run(path: str | Path) -> dict[str, Any]:
    from zoo.runs import rundir

    run = rundir.open_run(path, need_model=False, classifier=False)
    out = run_row(run)
    out.update(config=run.config(), record=run.record())
    metrics = run.file(rundir.METRICS)
    out["metrics"] = rundir.read_json(metrics) if metrics.exists() else None
    return out


# The results table: one row per finished run, every number read from the run's own files.
RESULT_COLUMNS = (
    "run",
    "model",
    "dataset",
    "epochs",
    "test_accuracy",
    "best_val_accuracy",
    "wall_time_s",
    "examples_per_s",
    "precision",
    "device",
    "zoo",
    "command",
)


def result_rows(runs_dir: str | Path | None = None, pattern: str | None = None) -> list[dict]:
    """Finished classification runs as results rows (RESULT_COLUMNS). ``examples_per_s`` is
    training examples x epochs / the run's wall time (start-up and validation included)."""
    import shlex

    from zoo.runs import rundir

    out = []
    for row in list_run_rows(runs_dir, pattern, "started"):
        if row["status"] != "finished" or row["task"] != "classify":
            continue
        run = rundir.Run(Path(row["path"]))
        record, metrics = run.record(), rundir.read_json(run.file(rundir.METRICS), dict)
        if "test_accuracy" not in metrics:  # a study's trial, finished without the test split
            continue
        hardware = (
            rundir.read_json(run.file(rundir.DISTRIBUTE), dict)
            if run.file(rundir.DISTRIBUTE).exists()
            else {}
        )
        wall, examples = metrics.get("wall_time_s"), metrics.get("train_examples")
        epochs = len(run.file(rundir.HISTORY).read_text().strip().splitlines()) - 1
        argv = record.get("command") or []
        out.append(
            {
                "run": row["name"],
                "model": row["model"],
                "dataset": row["dataset"],
                "epochs": epochs,
                "test_accuracy": round(metrics["test_accuracy"], 4),
                "best_val_accuracy": round(row["best_val_accuracy"] or 0.0, 4),
                "wall_time_s": wall,
                "examples_per_s": round(examples * epochs / wall, 1) if wall and examples else None,
                "precision": hardware.get("precision"),
                "device": ", ".join(hardware.get("devices", [])) or None,
                "zoo": record.get("zoo"),
                "command": reproduce_command(run.config(), record)
                or (shlex.join(["zoo", *argv[1:]]) if argv else None),
            }
        )
    return out


def to_csv(rows: list[dict], columns=RESULT_COLUMNS) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_markdown(rows: list[dict], columns=RESULT_COLUMNS) -> str:
    """A Markdown table; the command in backticks, empty cells as '-'."""

    def cell(column, value):
        if value in (None, ""):
            return "-"
        text = str(value).replace("|", "\\|")
        return f"`{text}`" if column == "command" else text

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(c, r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# Keys of a train config that `zoo train` takes as flags of their own (the rest go by --set).
FLAGS = {"train_split": "--split", "learning_rate": "--lr"}
NOT_FLAGS = ("frontend", "model_config")
NOT_REPRODUCED = ("model", "dataset", "data_dir")  # in the command's head, or machine-specific


def reproduce_command(config: dict[str, Any], record: dict[str, Any] | None = None) -> str | None:
    """``zoo train MODEL -d DATASET`` plus a flag (or ``--set``) for every key in which a run's
    config.json differs from what that command resolves to today: the command still gives the
    run's config after a recipe changes, and with the run's ``record`` (run.json) its
    architecture after the model's defaults change. None when today's zoo cannot resolve it (a
    model that is gone), and the caller falls back to the run's own command line."""
    import shlex

    from zoo import config as cfg_lib
    from zoo.training import recipes
    from zoo.models import registry

    model, dataset = config.get("model"), config.get("dataset")
    # A key an older zoo did not write ran at its default (e.g. keep: best).
    config = {**cfg_lib.to_dict(cfg_lib.TrainConfig()), **config}
    try:
        if record is not None:
            began = registry.run_architecture(model, config["model_config"], record)
            config["model_config"] = began
        base = cfg_lib.to_dict(recipes.resolve(model, dataset))
        return shlex.join(["zoo", "train", model, "-d", dataset, *_differences(config, base)])
    except (ZooError, TypeError, AttributeError):  # gone from the registry, or a foreign config
        return None


def _differences(config: dict[str, Any], base: dict[str, Any]) -> list[str]:
    model, args = config["model"], []
    for key, value in config.items():
        if key in NOT_REPRODUCED or key not in base or value == base[key]:
            continue
        if key in NOT_FLAGS:  # compared in full, so a key the recipe set and the run lacks counts
            ours, theirs = _effective(key, model, value), _effective(key, model, base[key])
            prefix = "model" if key == "model_config" else key
            for sub, v in ours.items():
                if theirs.get(sub) != v:
                    args += ["--set", f"{prefix}.{sub}={_yaml(v)}"]
        elif isinstance(value, bool):
            args.append(f"--{'' if value else 'no-'}{key}")
        elif value is None:
            args += ["--set", f"{key}=null"]
        else:
            args += [FLAGS.get(key, "--" + key.replace("_", "-")), str(value)]
    return args


def _effective(key: str, model: str, values: dict) -> dict[str, Any]:
    """The whole architecture (or audio front-end) config that ``values`` override."""
    from zoo import config as cfg_lib
    from zoo.models import registry
    from zoo.models.audio import frontend_config

    full = (
        registry.model_config(model, values) if key == "model_config" else frontend_config(values)
    )
    return cfg_lib.to_dict(full)


def _yaml(value) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)  # JSON scalars and lists are YAML
