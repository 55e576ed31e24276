"""What a study shows: one row per trial, the best trial with the command that reproduces it,
per-value medians for sweeps, and Optuna's plots as PNG files in the study folder."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from zoo.tune.study import StudySpec, run_name

PLOTS = ("optimization_history", "param_importances", "parallel_coordinate")


def trial_rows(study, folder: Path) -> list[dict[str, Any]]:
    """number, state, parameters, value, epochs, duration, run, note: one dict per trial."""
    rows = []
    retried = {t.user_attrs.get("resume_of"): t.number for t in study.get_trials(deepcopy=False)}
    for t in study.get_trials(deepcopy=False):
        steps = t.intermediate_values
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        note = t.user_attrs.get("error", "")
        if t.number in retried:
            note = f"retried as {retried[t.number]}" + (f"; {note}" if note else "")
        elif t.user_attrs.get("resume_of") is not None:
            note = f"resumes {t.user_attrs['resume_of']}"
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "params": dict(t.params),
                "value": t.value,
                "epochs": max(steps) if steps else t.user_attrs.get("epoch"),
                "duration_s": round(duration, 1) if duration is not None else None,
                "run": str(folder / t.user_attrs.get("run", run_name(t.number))),
                "note": note,
            }
        )
    return rows


def best_trial(study) -> Any | None:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def reproduce(folder: Path, trial) -> str | None:
    """The exact ``zoo train`` command that trains the trial's config as one run."""
    from zoo.runs import rundir, table

    run = rundir.Run(folder / trial.user_attrs.get("run", run_name(trial.number)))
    if not run.file(rundir.CONFIG).exists():
        return None
    return table.reproduce_command(run.config(), run.record())


def per_value(rows: list[dict[str, Any]], spec: StudySpec) -> list[dict[str, Any]]:
    """For each searched parameter and each of its values: the median and spread (min, max) of
    the finished trials' values, and how many there were (a sweep's table)."""
    out = []
    done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    for p in spec.space:
        values = sorted({repr(r["params"].get(p.name)) for r in done})
        for shown in values:
            got = [r["value"] for r in done if repr(r["params"].get(p.name)) == shown]
            out.append(
                {
                    "param": p.name,
                    "value": eval_repr(shown),
                    "trials": len(got),
                    "median": statistics.median(got),
                    "min": min(got),
                    "max": max(got),
                }
            )
    return out


def eval_repr(text: str) -> Any:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def write_plots(study, folder: Path) -> list[str]:
    """Optuna's matplotlib plots of the study as PNGs beside it; those the study cannot draw
    yet (fewer than two finished trials, a single parameter) are left out."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    written = []
    for name in PLOTS:
        if len(done) < 2 or (name != "optimization_history" and len(done[0].params) < 1):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks these functions experimental
            try:
                ax = getattr(vis, f"plot_{name}")(study)
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue  # e.g. importances of parameters that never varied
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(str(path))
    return written


def summary(spec: StudySpec, study, folder: Path) -> dict[str, Any]:
    """Everything ``zoo tune show`` prints, as one JSON-ready dict."""
    rows = trial_rows(study, folder)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    best = best_trial(study)
    out: dict[str, Any] = {
        "study": spec.name,
        "kind": spec.kind,
        "folder": str(folder),
        "model": spec.model,
        "dataset": spec.dataset,
        "metric": spec.metric,
        "direction": spec.direction,
        "space": [p.spec() for p in spec.space],
        "states": counts,
        "trials": rows,
        "best": None,
    }
    if best is not None:
        tested = study.user_attrs.get("best_test", {})
        out["best"] = {
            "number": best.number,
            "value": best.value,
            "params": dict(best.params),
            "run": str(folder / best.user_attrs.get("run", run_name(best.number))),
            "test": tested if tested.get("number") == best.number else None,
            "command": reproduce(folder, best),
        }
    if spec.kind == "sweep":
        out["per_value"] = per_value(rows, spec)
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io
    import json

    keys = sorted({k for r in rows for k in r["params"]})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["number", "state", *keys, "value", "epochs", "duration_s", "run", "note"])
    for r in rows:
        params = [json.dumps(r["params"].get(k)) if k in r["params"] else "" for k in keys]
        writer.writerow(
            [r["number"], r["state"], *params, r["value"], r["epochs"], r["duration_s"],
             r["run"], r["note"]]
        )  # fmt: skip
    return buf.getvalue()


def to_markdown(rows: list[dict[str, Any]]) -> str:
    keys = sorted({k for r in rows for k in r["params"]})
    head = ["trial", "state", *keys, "value", "epochs", "duration (s)", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["number"], r["state"], *(_fmt(r["params"].get(k)) for k in keys),
            _fmt(r["value"]), r["epochs"] if r["epochs"] is not None else "",
            r["duration_s"] if r["duration_s"] is not None else "", r["note"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
