"""Training state on disk: the model's and optimizer's variables after every epoch.

Each save writes ``epoch-NNNN.weights.h5`` atomically, then ``state.json`` naming it and the one
before, then removes older files: a kill at any moment leaves at least one complete state. On
resume the newest readable state wins; a truncated or unreadable one falls back to the previous.
Keras's ``BackupAndRestore`` keeps one file plus a metadata file written separately (a kill
between the two resumes at the wrong epoch) and deletes its backup when ``fit`` returns, before
the run's model is saved; that is why the few lines below exist. Runs written by earlier
versions (``checkpoints/backup/``) still resume.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

from zoo.runs import rundir
from zoo.errors import ZooError

STATE = "state.json"
BEST = "best.weights.h5"  # the best validation epoch's weights, in runs that keep the best
LEGACY = Path("backup")  # Keras BackupAndRestore's folder in earlier run directories


def save(model, folder: Path, epochs_done: int, elapsed_s: float | None = None) -> None:
    """Save after epoch ``epochs_done`` (1-based) and keep the previous state as a fallback.
    ``elapsed_s``: the run's training time so far, summed over the processes that trained it."""
    folder.mkdir(parents=True, exist_ok=True)
    name = _file(epochs_done)
    rundir.write_staged(folder / name, lambda tmp: model.save_weights(str(tmp)))
    keep = [name, *[f for _, f in _listed(folder) if f != name][:1]]
    times = {**_state(folder).get("elapsed_s", {}), name: elapsed_s}
    state = {"epoch": epochs_done, "file": name, "previous": keep[1:]}
    state["elapsed_s"] = {f: times[f] for f in keep if times.get(f) is not None}
    rundir.write_json(folder / STATE, state)
    for old in folder.glob("epoch-*.weights.h5"):
        if old.name not in keep:
            with contextlib.suppress(OSError):
                old.unlink()


def _file(epochs_done: int) -> str:
    return f"epoch-{epochs_done:04d}.weights.h5"


def _listed(folder: Path) -> list[tuple[int, str]]:
    """(epochs done, file name), newest first, from state.json and the files present."""
    found = {}
    for path in folder.glob("epoch-*.weights.h5"):
        match = re.fullmatch(r"epoch-(\d+)\.weights\.h5", path.name)
        if match:
            found[path.name] = int(match.group(1))
    return sorted(((e, f) for f, e in found.items()), reverse=True)


def _legacy(folder: Path) -> list[tuple[int, str]]:
    meta = folder / LEGACY / "training_metadata.json"
    try:
        epoch = int(json.loads(meta.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [(epoch, str(LEGACY / "latest.weights.h5"))]


def _state(folder: Path) -> dict:
    try:
        state = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def elapsed(folder: Path, epochs_done: int | None = None) -> float:
    """Training time (s) the processes before this one spent up to the state of ``epochs_done``
    (default: the newest); 0 where it was not recorded (states of earlier versions)."""
    state = _state(folder)
    epochs_done = state.get("epoch") if epochs_done is None else epochs_done
    if not isinstance(epochs_done, int):
        return 0.0
    value = state.get("elapsed_s", {}).get(_file(epochs_done))
    return float(value) if isinstance(value, (int, float)) and value >= 0 else 0.0


def exists(folder: Path) -> bool:
    return bool(_listed(folder) or _legacy(folder))


def restore(model, folder: Path) -> int:
    """Load the newest readable state into ``model`` (built, compiled) -> epochs done (0 when
    there is none). Nothing readable is a one-line error saying how to restart."""
    candidates = _listed(folder) + _legacy(folder)
    if not candidates:
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    problems = []
    for epoch, name in candidates:
        try:
            model.load_weights(str(folder / name))
            return epoch
        except Exception as e:  # truncated h5 files raise OSError, ValueError, KeyError ...
            problems.append(f"{name}: {type(e).__name__}")
    raise ZooError(
        f"no readable checkpoint in {folder} ({'; '.join(problems)}); delete that folder to "
        "restart training from epoch 1, or pick another --run-name"
    )


def trim_history(path: Path, epochs_done: int) -> None:
    """Drop history rows of epochs after the restored state (written before a kill), so a
    resumed run's history.csv holds each epoch once."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        return
    kept = [lines[0]]
    for line in lines[1:]:
        first = line.split(",", 1)[0].strip()
        if first.isdigit() and int(first) < epochs_done:
            kept.append(line)
    if len(kept) != len(lines):
        rundir.write_atomic(path, lambda tmp: tmp.write_text("".join(kept)))


def remove(folder: Path) -> None:
    """Drop the resume states once the run is finished (model.keras holds the result)."""
    import shutil

    for path in [*folder.glob("epoch-*.weights.h5"), folder / STATE]:
        with contextlib.suppress(OSError):
            path.unlink()
    shutil.rmtree(folder / LEGACY, ignore_errors=True)
