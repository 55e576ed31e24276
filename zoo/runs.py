"""Run directories: layout, status, resume checks and listing.

``runs/<run-name>/`` holds everything needed to evaluate, resume or export a run without the
original command line (see README "Run directory").
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

CONFIG, DATASET, RUN, METRICS, HISTORY, MODEL = (
    "config.json",
    "dataset.json",
    "run.json",
    "metrics.json",
    "history.csv",
    "model.keras",
)


def default_runs_dir() -> Path:
    return Path(os.environ.get("ZOO_RUNS_DIR", "runs"))


def new_run_name(model: str, dataset: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{model}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', dataset)}-{stamp}"


def check_run_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""):
        raise ZooError(f"run name {name!r} may only hold letters, digits, '_', '.' and '-'")


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a crash never leaves half a file behind)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ZooError(f"cannot write {path}: {e.strerror or e} (is the disk full?)") from None


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ZooError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ZooError(f"{path} is corrupted (not valid JSON)") from None


@dataclass
class Run:
    """A run directory on disk."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def preprocessor_dir(self) -> Path:
        return self.path / "preprocessor"

    def config(self) -> dict[str, Any]:
        return read_json(self.file(CONFIG))

    def record(self) -> dict[str, Any]:
        return read_json(self.file(RUN)) if self.file(RUN).exists() else {}

    def update_record(self, **fields: Any) -> None:
        write_json(self.file(RUN), {**self.record(), **fields})

    def status(self) -> str:
        """finished | running | interrupted | failed | created."""
        rec = self.record()
        status = rec.get("status", "created")
        if status == "running" and not _alive(rec.get("pid")):
            return "interrupted"
        return status


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_run(path: str | Path, need_model: bool = True, classifier: bool = True) -> Run:
    """An existing run directory, checked; a clear ZooError otherwise. With ``classifier``,
    a pretraining run (which has no classifier to evaluate, export or serve) is refused."""
    p = Path(path)
    if not p.exists():
        raise ZooError(f"run directory {p} does not exist (`zoo runs` lists runs)")
    if not p.is_dir() or not (p / CONFIG).exists():
        raise ZooError(f"{p} is not a run directory (no {CONFIG}); pass runs/<run-name>")
    run = Run(p)
    if need_model and not (p / MODEL).exists():
        status = run.status()
        raise ZooError(
            f"run {p} has no trained model yet (status: {status}); rerun its `zoo train` command "
            "with the same --run-name to resume it"
        )
    if classifier and run.record().get("task") == "mlm":
        model = run.config().get("model", "MODEL")
        raise ZooError(
            f"run {p} is a masked-LM pretraining run with no classifier; fine-tune it first: "
            f"zoo train {model} --dataset NAME --init-from {p}"
        )
    return run


def environment_record() -> dict[str, Any]:
    """Versions, command line and git commit stored with every run (reproducibility)."""
    import keras
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from zoo import __version__

    return {
        "command": sys.argv,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "zoo": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_datasets": tfds.__version__,
        "git_commit": _git_commit(),
        "devices": [d.name for d in tf.config.list_logical_devices()],
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def list_runs(root: Path, pattern: str | None = None) -> list[Run]:
    import fnmatch

    if not root.is_dir():
        return []
    runs = [Run(p) for p in sorted(root.iterdir()) if (p / CONFIG).exists()]
    return [r for r in runs if not pattern or fnmatch.fnmatch(r.name, pattern)]
