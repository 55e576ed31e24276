"""The worker loop of a study: take a trial, train it as an ordinary run, report its value.

Each trial is ``engine.train`` into ``runs/<study>/trial-NNNN`` with the drawn values applied
to the study's base config; the engine's per-epoch hook reports the validation metric to the
trial and raises ``RunStopped("pruned")`` when the pruner says so (the run keeps that epoch's
state and is marked ``pruned``). Trials are finished without the test split: only the best
trial is tested, once, when the study ends.

A trial whose process was killed (SIGKILL, a reboot) or stopped by a signal is *reclaimed* by
the next worker on the same machine: it is marked failed and a new trial with the same values
is queued that resumes the same run directory from its last saved epoch, so no epoch is
trained twice and no trial is counted twice. Trials of other machines (a database study) that
stop sending heartbeats are failed by Optuna and retried the same way, from scratch there,
since their run directory is on the other machine.
"""

from __future__ import annotations

import io
import math
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import config as cfg_lib
from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.tune import space
from zoo.tune.study import StudySpec, locked, queue_retry, run_name

MAX_FAILURES_IN_A_ROW = 3  # a study whose trials keep failing stops and says why
HOST = socket.gethostname()


@dataclass
class Budget:
    """When a worker stops taking trials: ``trials`` counted in the study (finished, pruned or
    running; a retry replaces the trial it resumes), or ``deadline`` (time.time())."""

    trials: int | None = None
    deadline: float | None = None

    def spent(self, study) -> bool:
        from optuna.trial import TrialState

        if self.deadline is not None and time.time() >= self.deadline:
            return True
        if self.trials is None:
            return False
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        counted = study.get_trials(deepcopy=False, states=states)
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return len(counted) >= self.trials and not waiting


def work(spec: StudySpec, folder: Path, study, budget: Budget, console=None) -> int:
    """Take and train trials until the budget is spent; returns how many this worker ran."""
    from optuna.storages import fail_stale_trials

    base = cfg_lib.from_dict(TrainConfig, spec.base, where="study base config")
    ran, failures = 0, 0
    while True:
        with locked(folder):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "experimental": stable since Optuna 2.9
                fail_stale_trials(study)  # database studies: other machines' dead trials
            reclaim(study, folder)
            if budget.spent(study):
                return ran
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeats are recorded here, not by optimize
                trial = study.ask()
            name = trial.user_attrs.get("run") or run_name(trial.number)
            for key, value in {"run": name, "host": HOST, "pid": os.getpid()}.items():
                trial.set_user_attr(key, value)
        error = run_trial(spec, folder, study, trial, base, console)
        ran += 1
        failures = failures + 1 if error else 0
        if failures >= MAX_FAILURES_IN_A_ROW:
            raise ZooError(
                f"{failures} trials in a row failed; the last: {error} (`zoo tune show "
                f"{folder}` lists them)"
            )


def run_trial(spec, folder: Path, study, trial, base: TrainConfig, console) -> str | None:
    """Train one trial and tell the study how it ended; -> the error of a failed trial."""
    from optuna.trial import TrialState

    from zoo import engine
    from zoo.runs import rundir
    from zoo.runs.interrupts import Interrupted
    from zoo.tasks import get_task

    drawn = {p.name: p.suggest(trial) for p in spec.space}
    name = trial.user_attrs["run"]
    reporter = Reporter(trial, spec.metric, folder / name, base.epochs)
    try:
        config = space.apply(base, drawn)
        with heartbeat(study, trial):
            summary = _finished(folder / name) or engine.train(
                get_task("classify"), config, name, folder, on_epoch=reporter,
                test=spec.kind == "sweep",  # a sweep's runs are results; a search's are not
                console=_quiet_console(),
            )  # fmt: skip
    except rundir.RunStopped:
        study.tell(trial, state=TrialState.PRUNED)
        return None
    except Interrupted:
        trial.set_user_attr("interrupted", True)
        study.tell(trial, state=TrialState.FAIL)
        raise
    except ZooError as e:
        message = str(e).splitlines()[0][:300]
        trial.set_user_attr("error", message)
        study.tell(trial, state=TrialState.FAIL)
        if console is not None:
            console.print(f"trial {trial.number} failed: {message}")
        return message
    kept = rundir.kept_validation(folder / name / rundir.HISTORY, "val_accuracy", config.keep)
    value = kept.get(spec.metric)
    if value is None or not math.isfinite(value):
        message = f"the run logged no finite {spec.metric}"
        trial.set_user_attr("error", message)
        study.tell(trial, state=TrialState.FAIL)
        return message
    trial.set_user_attr("epochs", summary.get("epochs"))
    study.tell(trial, float(value))
    return None


def _finished(run_dir: Path) -> dict[str, Any] | None:
    """The summary of a trial's run that finished before its process could report it."""
    from zoo.runs import rundir

    run = rundir.Run(run_dir)
    if not run.file(rundir.METRICS).exists() or run.status() != "finished":
        return None
    return rundir.read_json(run.file(rundir.METRICS), dict, "delete the trial's run directory")


class heartbeat:
    """Database studies: record the trial's heartbeat while it trains, so that other machines
    fail and retry it if this one dies (Optuna's optimize loop does this; ask/tell does not)."""

    def __init__(self, study, trial):
        import threading

        self.storage = study._storage  # Optuna's ask/tell API exposes no other handle
        self.trial_id = trial._trial_id
        self.interval = getattr(self.storage, "get_heartbeat_interval", lambda: None)()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        while not self.stop.wait(self.interval):
            self.storage.record_heartbeat(self.trial_id)

    def __enter__(self):
        if self.interval:
            self.storage.record_heartbeat(self.trial_id)
            self.thread.start()

    def __exit__(self, *exc):
        self.stop.set()


class Reporter:
    """The engine's per-epoch hook: reports the metric and prunes. A resumed trial first
    replays the epochs its run already has, so the pruner sees the whole curve."""

    def __init__(self, trial, metric: str, run_dir: Path, epochs: int):
        self.trial, self.metric, self.epochs = trial, metric, epochs
        for epoch, value in _history(run_dir / "history.csv", metric):
            trial.report(value, epoch)

    def __call__(self, epoch: int, logs: dict[str, Any]) -> None:
        from zoo.runs import rundir

        value = (logs or {}).get(self.metric)
        if value is None:
            raise ZooError(
                f"--metric {self.metric} is not logged by this run (it logs "
                f"{', '.join(sorted(k for k in logs or {} if k.startswith('val_')))})"
            )
        self.trial.report(float(value), epoch)
        self.trial.set_user_attr("epoch", epoch)
        # The last epoch is never pruned: the trial has cost all it will, and it finishes.
        if epoch < self.epochs and self.trial.should_prune():
            raise rundir.RunStopped("pruned", f"pruned at epoch {epoch}")


def _history(path: Path, metric: str) -> list[tuple[int, float]]:
    import csv

    out = []
    try:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    out.append((int(row["epoch"]) + 1, float(row[metric])))
                except (KeyError, TypeError, ValueError):
                    continue
    except OSError:
        return []
    return out


def _quiet_console():
    from rich.console import Console

    return Console(file=io.StringIO(), width=160)


# ---------------------------------------------------------------------------------------------
# Trials whose process is gone
# ---------------------------------------------------------------------------------------------


def reclaim(study, folder: Path) -> list[int]:
    """Queue a resume of every trial of this machine whose process was killed or stopped by a
    signal and that no retry took over yet; -> the numbers reclaimed. Runs under the study
    lock, so two local workers never reclaim the same trial."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    from zoo.runs import rundir

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("resume_of") for t in trials}
    done = []
    for t in trials:
        if t.user_attrs.get("host") != HOST or t.number in retried:
            continue
        run = rundir.Run(folder / t.user_attrs.get("run", run_name(t.number)))
        status = run.status() if run.file(rundir.RUN).exists() else "created"
        if t.state == TrialState.RUNNING:
            if status == "running" or (
                status == "created" and rundir.pid_alive(t.user_attrs.get("pid"))
            ):
                continue  # its process is alive
            try:
                study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue  # another machine's worker got there first
        elif not (t.state == TrialState.FAIL and t.user_attrs.get("interrupted")):
            continue
        queue_retry(study, t, resume=True)
        done.append(t.number)
    return done
