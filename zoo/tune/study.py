"""A study: many ordinary runs of one model on one dataset, kept in an Optuna storage.

The study folder is ``runs/<study>/``: every trial's run directory (``trial-0007/``), the
journal that holds the study (``study.log``, safe for several processes on one machine or a
shared file system; ``--storage URL`` puts it in a database instead, for many machines), the
study's own record (``study.json``) and its plots. What defines a study (model, dataset,
space, metric, base config) is stored in the study itself, so a second command with other
settings is refused instead of mixing two searches in one table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.tune.space import Param

RUN_PREFIX = "trial-"  # runs/<study>/trial-0007
JOURNAL = "study.log"
RECORD = "study.json"
LOCK = ".study.lock"
PRUNERS = ("median", "hyperband", "none")
KINDS = ("tune", "sweep")
SCHEMES = ("sqlite", "postgresql", "mysql")  # Optuna's RDBStorage (SQLAlchemy URLs)
IDENTITY_ATTR = "zoo"  # the study user attribute that says what the study is
# Keys of the base config that do not change what a trial computes.
NOT_IDENTITY = {"data_dir"}


@dataclass(frozen=True)
class StudySpec:
    """What a study searches: everything two commands must agree on to share it."""

    name: str
    kind: str  # tune | sweep
    model: str
    dataset: str
    space: tuple[Param, ...]
    metric: str = "val_accuracy"
    base: dict = field(default_factory=dict)  # the resolved TrainConfig every trial starts from
    prune: str = "median"
    seed: int = 0

    @property
    def direction(self) -> str:
        return "minimize" if self.metric.endswith("loss") else "maximize"

    def identity(self) -> dict[str, Any]:
        base = {k: v for k, v in self.base.items() if k not in NOT_IDENTITY}
        return {
            "kind": self.kind,
            "model": self.model,
            "dataset": self.dataset,
            "space": [p.spec() for p in self.space],
            "metric": self.metric,
            "base": base,
        }

    def to_json(self) -> dict[str, Any]:
        """Everything, the data directory included (workers read the study from this)."""
        return {**self.identity(), "base": self.base, "name": self.name, "prune": self.prune,
                "seed": self.seed}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudySpec:
        from zoo.tune import space

        return cls(
            name=data["name"],
            kind=data["kind"],
            model=data["model"],
            dataset=data["dataset"],
            space=tuple(space.parse_all(data["space"])),
            metric=data.get("metric", "val_accuracy"),
            base=data.get("base", {}),
            prune=data.get("prune", "median"),
            seed=int(data.get("seed", 0)),
        )


def check_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name or ""):
        raise ZooError(
            f"study name {name!r}: use letters, digits, '.', '_' and '-' (at most 100), "
            "e.g. --study cnn-cifar10-lr"
        )


def masked(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def storage(url: str | None, folder: Path):
    """The Optuna storage: the study folder's journal file, or the database at ``url``."""

    if url is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        folder.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme.split("+", 1)[0] not in SCHEMES:
        raise ZooError(
            f"--storage {masked(url)}: unknown scheme {scheme or '(none)'!r}; use "
            "postgresql://USER:PASSWORD@HOST/DB, mysql://..., sqlite:///FILE, or leave it out "
            "for the journal file in the study folder"
        )
    for attempt in range(3):
        try:
            return _rdb(url)
        except ImportError as e:
            raise ZooError(
                f"--storage {masked(url)}: the database driver is missing "
                f"({e.name or 'psycopg'}); pip install 'psycopg[binary]' (PostgreSQL) or pymysql "
                "(MySQL)"
            ) from None
        except Exception as e:  # SQLAlchemy's OperationalError and friends: unreachable, refused
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            racing = "already exists" in first or "duplicate key" in first
            if racing and attempt < 2:  # two processes created the tables at once: they exist now
                time.sleep(1.0)
                continue
            raise ZooError(
                f"cannot reach the study database {masked(url)}: {masked(first)[:200]}"
            ) from None
    raise AssertionError("unreachable")


def _rdb(url: str):
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeats are "experimental" (stable since Optuna 2.9)
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=30,
            grace_period=120,
            heartbeat_stale_trial_callback=retry_elsewhere,
            engine_kwargs={"pool_pre_ping": True},
        )


def sampler(spec: StudySpec, seed: int | None = None):
    import optuna

    seed = spec.seed if seed is None else seed
    if spec.kind == "sweep":
        grid = {p.name: list(p.choices) for p in spec.space}
        return _Grid(grid, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def worker_seed(spec: StudySpec, url: str | None, worker: int | None) -> int:
    """The sampler's seed: the study's own for a lone worker on a journal (same seed, same
    trials); otherwise offset per worker process, so that workers sharing a study do not all
    draw the same first values."""
    import os

    if worker is None and url is None:
        return spec.seed
    return (spec.seed * 1_000_003 + 7919 * (worker or 0) + os.getpid()) % (2**31)


def _grid_class():
    import optuna

    class Grid(optuna.samplers.GridSampler):
        """Optuna's grid, minus its ``study.stop()`` once the grid is covered: that works only
        inside ``optimize``, and the workers here ask and tell (they stop on the grid's size)."""

        def after_trial(self, study, trial, state, values) -> None:
            return None

    return Grid


def _Grid(grid, seed):
    return _grid_class()(grid, seed=seed)


def pruner(spec: StudySpec):
    """median (after a warm-up: 3 trials, and never before epoch 2), hyperband, or none."""
    import optuna

    epochs = int(spec.base.get("epochs", 1))
    if spec.kind == "sweep" or spec.prune == "none":
        return optuna.pruners.NopPruner()
    if spec.prune == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)


def open_study(spec: StudySpec, folder: Path, url: str | None, worker: int | None = None):
    """Create the study or load it; refuse one that exists with other settings. ``worker``:
    this process's index among the study's local workers (None: the only one)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = storage(url, folder)
    draw = sampler(spec, worker_seed(spec, url, worker))
    exists = any(s.study_name == spec.name for s in store.get_all_studies())
    if exists:  # compared before anything is written: a refused command leaves no trace
        study = optuna.load_study(
            study_name=spec.name, storage=store, sampler=draw, pruner=pruner(spec)
        )
        # A continued study draws on from where it stopped: reseeded past its trials, else
        # the seeded sampler's first (random) draws would repeat the values already tried.
        study.sampler = sampler(spec, worker_seed(spec, url, worker) + len(study.trials))
        stored = study.user_attrs.get(IDENTITY_ATTR)
        if stored is not None and stored != spec.identity():
            what = next(k for k in ("kind", "model", "dataset", "space", "metric", "base")
                        if stored.get(k) != spec.identity()[k])  # fmt: skip
            raise ZooError(
                f"study {spec.name} exists with another {what} ({_short(stored.get(what))}); "
                f"continue it with `zoo tune --resume {spec.name}`, or pick another --study NAME"
            )
    else:
        study = optuna.create_study(
            study_name=spec.name,
            storage=store,
            sampler=draw,
            pruner=pruner(spec),
            direction=spec.direction,
            load_if_exists=True,
        )
    if study.user_attrs.get(IDENTITY_ATTR) is None:
        study.set_user_attr(IDENTITY_ATTR, spec.identity())
    write_record(folder, spec, url)
    return study


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def write_record(folder: Path, spec: StudySpec, url: str | None) -> None:
    """study.json: the settings and where the study is stored (the URL without its password);
    rewritten only when it changes."""
    from zoo.runs import rundir

    record = {**spec.to_json(), "storage": masked(url) if url else JOURNAL}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RECORD
    if path.is_file():
        try:
            if json.loads(path.read_text()) == json.loads(json.dumps(record, default=str)):
                return
        except (OSError, ValueError):
            pass
    rundir.write_json(path, record)


def read_spec(folder: Path) -> tuple[StudySpec, str | None]:
    """The study's settings from its folder's record (``zoo tune --resume``, ``tune show``),
    and where it is stored (None: the journal)."""
    from zoo.runs import rundir

    path = folder / RECORD
    if not path.is_file():
        raise ZooError(
            f"{folder} is not a study folder (no {RECORD}); `zoo tune MODEL -d DATASET` starts one"
        )
    data = rundir.read_json(path, dict, "start the study again under another --study name")
    where = data.get("storage", JOURNAL)
    return StudySpec.from_json(data), None if where == JOURNAL else where


def load_study(folder: Path, url: str | None = None):
    """An existing study, for reading (``zoo tune show``)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec, stored_url = read_spec(folder)
    url = url or stored_url
    if url is not None and "***" in url:
        raise ZooError(
            f"study {spec.name} lives in {url}; pass --storage with the full URL to read it"
        )
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage(url, folder))
    except KeyError:
        raise ZooError(f"study {spec.name} is not in {masked(url) if url else JOURNAL}") from None
    return spec, study


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the study folder for one step of a worker (take a trial, reclaim an
    interrupted one): workers on this machine never race there."""
    import fcntl
    import os

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def replace_space(spec: StudySpec, params: list[Param]) -> StudySpec:
    return dataclasses.replace(spec, space=tuple(params))


def run_name(number: int) -> str:
    return f"{RUN_PREFIX}{number:04d}"


def queue_retry(study, trial, resume: bool) -> None:
    """Queue a trial with ``trial``'s values; with ``resume`` it continues ``trial``'s run."""
    attrs = {"resume_of": trial.number}
    if resume:
        attrs["run"] = trial.user_attrs.get("run", run_name(trial.number))
    study.enqueue_trial(dict(trial.params), user_attrs=attrs, skip_if_exists=False)


def retry_elsewhere(study, trial) -> None:
    """Optuna's callback for a database trial whose heartbeat stopped (its machine died): its
    values are tried again from scratch, its run directory being on that machine."""
    queue_retry(study, trial, resume=False)
