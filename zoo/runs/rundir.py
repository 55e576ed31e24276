"""Run directories: the ``Run`` that owns one, its lock, atomic files, status and listing.

``runs/<run-name>/`` holds everything needed to evaluate, resume or export a run without the
original command line (README "Run directory"). A training process holds the run's lock for its
whole life: an OS file lock, so the kernel releases it when the process dies and a killed run
never blocks its rerun. Every file the zoo owns is written atomically (temporary file +
``os.replace``) and read back through ``read_json``, which turns damage into one line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
DISTRIBUTE, LOCK = "distribute.json", ".lock"
STATUSES = ("created", "running", "interrupted", "failed", "pruned", "finished")


class RunStopped(Exception):
    """Raised by a caller's per-epoch hook to end a run early with ``status`` (a study's pruned
    trial: "pruned"). The engine records the status, keeps the epoch's resume state, and
    re-raises."""

    def __init__(self, status: str, message: str = ""):
        super().__init__(message or f"run stopped: {status}")
        self.status = status


def default_runs_dir() -> Path:
    return Path(os.environ.get("ZOO_RUNS_DIR", "runs"))


def new_run_name(model: str, dataset: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{model}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', dataset)}-{stamp}"


def check_run_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""):
        raise ZooError(f"run name {name!r} may only hold letters, digits, '_', '.' and '-'")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# ---------------------------------------------------------------------------------------------
# Atomic writes, one reader
# ---------------------------------------------------------------------------------------------


def disk_error(path: Path, e: OSError) -> ZooError:
    """The one-line error for a failed write (full disk, read-only file system, ...)."""
    why = e.strerror or str(e) or type(e).__name__
    hint = " (is the disk full?)" if e.errno in (errno.ENOSPC, errno.EDQUOT, None) else ""
    return ZooError(f"cannot write {path}: {why}{hint}")


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it over ``path``:
    readers see the old file or the new one, never half of one. The temporary name keeps the
    suffix (Keras picks its format from it)."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise disk_error(path, e) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


SCRATCH_ROOTS = ("/dev/shm",)  # memory-backed file systems, tried before the system temp dir
SCRATCH_FREE = 256 << 20  # a scratch root is used only with this much free space


def _scratch_root() -> str:
    import shutil
    import tempfile

    for root in SCRATCH_ROOTS:
        with contextlib.suppress(OSError):
            if os.access(root, os.W_OK) and shutil.disk_usage(root).free > SCRATCH_FREE:
                return root
    return tempfile.gettempdir()


def write_staged(path: Path, write: Callable[[Path], Any]) -> None:
    """``write_atomic`` for files a library writes itself (Keras weights and models through
    HDF5 and zip): ``write(tmp)`` fills a scratch file in memory (``/dev/shm``, else the system
    temp dir), then this module copies the bytes beside ``path`` and renames them over it. A
    full disk is then an ``OSError`` of Python's own writes, turned into one line, never a
    failed write inside HDF5 (which prints tracebacks at exit and can crash the process)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="zoo-", dir=_scratch_root()) as scratch:
        staged = Path(scratch) / path.name  # the suffix picks Keras's format
        write(staged)

        def copy(tmp: Path) -> None:
            with staged.open("rb") as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)

        write_atomic(path, copy)


def check_output_dir(root: Path, flag: str) -> None:
    """ZooError when ``root`` or a folder above it exists as something other than a folder."""
    for folder in (root, *root.parents):
        if os.path.lexists(folder) and not folder.is_dir():
            raise ZooError(f"{flag} {root}: {folder} is a file, not a folder; pass a folder")


def write_dir_atomic(final: Path, fill: Callable[[Path], Any]) -> Any:
    """Fill a hidden temporary folder beside ``final``, then rename it to ``final``: a reader
    (TF Serving) never sees half of it. Temporary folders of writers that died (they carry
    their pid) are removed first; a full disk or any other write error is one line and leaves
    nothing behind. Returns what ``fill`` returned."""
    import shutil
    import tempfile

    check_output_dir(final.parent, "output")
    made = [p for p in (final.parent, *final.parent.parents) if not p.exists()]
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(final.parent, e) from None
    for stale in final.parent.glob(".*.tmp-*"):
        match = re.fullmatch(r"\..+\.tmp-(\d+)-.*", stale.name)
        if match and stale.is_dir() and not pid_alive(int(match.group(1))):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    try:
        result = fill(tmp)
        if os.path.lexists(final):
            raise ZooError(f"{final} appeared while writing; nothing was overwritten")
        tmp.rename(final)
        made = []  # done: the folders made for it stay
        return result
    except OSError as e:
        raise disk_error(final, e) from None
    except ZooError:
        raise
    except Exception as e:  # TensorFlow's own file errors (tf.errors.OpError) on a full disk
        if "No space left" not in str(e) and "out of space" not in str(e).lower():
            raise
        raise disk_error(final, OSError(errno.ENOSPC, "No space left on device")) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:  # a failed first export leaves no empty folders behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a crash never leaves half a file behind)."""
    text = json.dumps(data, indent=2, default=str) + "\n"
    write_atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: Path, expect: type = object, fix: str = "") -> Any:
    """JSON from a file the zoo wrote; missing, unreadable, not JSON or not of the ``expect``ed
    type is a one-line ZooError naming the file (and ``fix`` when given)."""
    path = Path(path)
    tail = f"; {fix}" if fix else ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"{path} is missing{tail}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ZooError(f"{path} is corrupted (not valid JSON){tail}") from None
    except OSError as e:
        raise ZooError(f"cannot read {path}: {e.strerror or e}{tail}") from None
    if expect is not object and not isinstance(data, expect):
        kind = {dict: "an object", list: "a list"}.get(expect, expect.__name__)
        raise ZooError(f"{path} is corrupted (expected {kind}){tail}")
    return data


# ---------------------------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------------------------


class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock`` holding the owner's pid. Released by the kernel
    when the process dies; removed on release, so a finished run leaves no lock file behind.
    A waiter that locked a file removed meanwhile notices the changed inode and tries again."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self, what: str) -> None:
        import fcntl

        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise ZooError(
                    f"{what} is in use by another process (pid {holder}); wait for it to end "
                    "or pick another --run-name"
                ) from None
            if self._same_file(fd):
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                self.fd = fd
                return
            os.close(fd)  # the file was removed by its last owner: lock the new one
        raise ZooError(f"could not lock {self.path}; try again")

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def valid(self) -> bool:
        """False once the lock file (or its directory) was removed or replaced under us."""
        return self.fd is not None and self._same_file(self.fd)

    def release(self) -> None:
        if self.fd is None:
            return
        if self._same_file(self.fd):
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(self.fd)  # closing drops the flock
        self.fd = None


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    """A run directory. ``work`` is where training state goes: the run directory itself on the
    chief, a stable scratch directory on other workers of a multi-worker job."""

    path: Path
    work: Path | None = None
    lock: RunLock | None = field(default=None, repr=False)
    active: bool = False  # this process started (or resumed) training in it
    started: float = 0.0  # time.time() at this process's start, less earlier processes' time

    def __post_init__(self):
        self.path = Path(self.path)
        self.work = Path(self.work) if self.work is not None else self.path

    @property
    def name(self) -> str:
        return self.path.name

    def elapsed(self) -> float:
        """Seconds of training so far: this process's, plus earlier processes' up to the state
        it resumed from."""
        return time.time() - self.started

    @property
    def chief(self) -> bool:
        return self.work == self.path

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoints(self) -> Path:
        return self.work / "checkpoints"

    @property
    def preprocessor_dir(self) -> Path:
        return self.path / "preprocessor"

    def config(self) -> dict[str, Any]:
        return read_json(self.file(CONFIG), dict, "delete the run directory and retrain")

    def record(self) -> dict[str, Any]:
        if not self.file(RUN).exists():
            return {}
        return read_json(self.file(RUN), dict, "delete the run directory and retrain")

    def update_record(self, **fields: Any) -> None:
        write_json(self.file(RUN), {**self.record(), **fields})

    def status(self) -> str:
        """finished | running | interrupted | failed | pruned (a study stopped it) | created."""
        rec = self.record()
        status = rec.get("status", "created")
        if status == "running" and not pid_alive(rec.get("pid")):
            return "interrupted"
        return status if status in STATUSES else "created"

    def exists(self) -> bool:
        """Still there: False once the directory was removed (or replaced) under a training."""
        if self.lock is not None:
            return self.lock.valid()
        return self.work.is_dir()

    def mark(self, status: str, **fields: Any) -> None:
        """Record the status on the chief; never recreates a directory removed under us."""
        if self.chief and self.exists():
            self.update_record(status=status, **fields)


def pid_alive(pid: Any) -> bool:
    """Whether process ``pid`` of this machine is alive (False for a missing or bad pid)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return isinstance(pid, int)
    return True


@contextlib.contextmanager
def owned(path: Path, work: Path | None = None) -> Iterator[Run]:
    """The run at ``path`` with its lock held (chief) for the block. A directory made here and
    left empty (the run failed before writing anything) is removed again."""
    run = Run(path, work)
    if not run.chief:  # other workers never write the run directory
        Path(run.work).mkdir(parents=True, exist_ok=True)
        yield run
        return
    for folder in (run.path, *run.path.parents):
        if os.path.lexists(folder) and not folder.is_dir():
            raise ZooError(
                f"{folder} exists and is not a directory (a file or a broken link); pick "
                "another --run-name or --runs-dir"
            )
    made = [p for p in (run.path, *run.path.parents) if not p.exists()]
    try:
        run.path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(run.path, e) from None
    run.lock = RunLock(run.path / LOCK)
    run.lock.acquire(f"run {run.name}")
    try:
        yield run
    finally:
        run.lock.release()
        for folder in made:  # innermost first; only empty folders go (nothing was written)
            with contextlib.suppress(OSError):
                folder.rmdir()


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
        raise ZooError(
            f"run {p} has no trained model yet (status: {run.status()}); resume it with "
            f"`zoo resume {p}`"
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


def best_so_far(history_csv: Path, monitor: str = "val_accuracy") -> float:
    """The best monitored value of the epochs in history.csv (a resumed run's best so far);
    damaged rows count as no value."""
    import csv
    import math

    values = []
    try:
        with Path(history_csv).open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    values.append(float(row.get(monitor) or "nan"))
                except ValueError:
                    continue
    except (OSError, UnicodeDecodeError, csv.Error):
        return -math.inf
    return max((v for v in values if math.isfinite(v)), default=-math.inf)


def list_runs(root: Path, pattern: str | None = None) -> list[Run]:
    import fnmatch

    if not root.is_dir():
        return []
    runs = [Run(p) for p in sorted(root.iterdir()) if (p / CONFIG).exists()]
    return [r for r in runs if not pattern or fnmatch.fnmatch(r.name, pattern)]


def kept_validation(history_csv: Path, monitor: str, keep: str) -> dict[str, Any]:
    """The kept epoch's validation metrics from history.csv (the best by ``monitor`` with
    ``keep`` "best", else the last): what a run finished without its test evaluation reports."""
    import csv
    import math

    with Path(history_csv).open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}

    def value(row):
        try:
            return float(row.get(monitor) or "nan")
        except ValueError:
            return math.nan

    scored = [r for r in rows if not math.isnan(value(r))]
    kept = max(scored, key=value) if keep == "best" and scored else rows[-1]
    out = {"kept_epoch": int(kept["epoch"]) + 1}
    out.update({k: float(v) for k, v in kept.items() if k.startswith("val_") and v})
    return out


def disk_full_reason(error: BaseException) -> str:
    """The file system's words when ``error`` is a full disk (OSError or TensorFlow's), else ''."""
    text = str(error)
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return error.strerror or "No space left on device"
    if "No space left on device" in text or "Disk quota exceeded" in text:
        return "No space left on device"
    return ""
