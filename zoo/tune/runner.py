"""``zoo tune`` and ``zoo sweep``: a study's settings from the command line, its workers (this
process, or K processes of this machine sharing the study's storage), one live table while they
run, and at the end the best trial tested once and the plots written.

The test split is never part of the search: trials are compared on the validation metric, and
only the chosen trial's run is evaluated on test, once (the number is kept in the study).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo import config as cfg_lib
from zoo.errors import ZooError, did_you_mean
from zoo.tune import report, space
from zoo.tune.study import KINDS, PRUNERS, StudySpec, check_name

METRICS = ("val_accuracy", "val_loss", "val_top5")  # what a classification run logs
LAUNCHER_ENV = "ZOO_LAUNCHER"  # JSON list: how to start `zoo` in a worker process
STORAGE_ENV = "ZOO_STUDY_STORAGE"  # the database URL handed to workers (not on their argv)


def make_spec(
    kind: str,
    model: str,
    dataset: str | None,
    *,
    study: str | None = None,
    params: Sequence[str] = (),
    space_file: str | None = None,
    seeds: Sequence[int] = (),
    metric: str = "val_accuracy",
    prune: str = "median",
    config_file: str | None = None,
    sets: Sequence[str] = (),
    flags: dict[str, Any] | None = None,
) -> StudySpec:
    """The study's settings, every value checked before anything is written."""
    from zoo.models import registry
    from zoo.training import recipes

    if kind not in KINDS:
        raise ZooError(f"unknown study kind {kind!r}")
    if metric not in METRICS:
        raise ZooError(
            f"--metric {metric}: not a validation metric the run logs"
            f"{did_you_mean(metric, METRICS)}; choose one of {', '.join(METRICS)} (the test "
            "split is never searched on)"
        )
    if prune not in PRUNERS:
        raise ZooError(f"--prune {prune}: choose one of {', '.join(PRUNERS)}")
    base = recipes.resolve(model, dataset, config_file, sets, flags)
    spec = registry.get_spec(base.model)
    chosen = space.load_file(space_file) if space_file else []
    given = space.parse_all(params)
    chosen = [p for p in chosen if p.name not in {g.name for g in given}] + given
    if kind == "sweep":
        if seeds:
            if any(p.name == "seed" for p in chosen):
                raise ZooError("give the seeds once: --seeds 0,1,2 or --param seed=0,1,2")
            chosen.append(space.Param("seed", choices=tuple(int(s) for s in seeds)))
        ranged = [p.name for p in chosen if p.kind != "categorical"]
        if ranged:
            raise ZooError(
                f"--param {ranged[0]}: a sweep is a grid; list its values (a,b,c), or search "
                "a range with `zoo tune`"
            )
        if not chosen:
            raise ZooError("a sweep needs values: --seeds 0,1,2 and/or --param NAME=a,b,c")
    elif not chosen:
        chosen = space.default_space(spec)
    space.check(chosen, base, registry.config_fields(spec))
    name = study or f"{kind}-{spec.name}-{base.dataset.replace('/', '-')}"
    check_name(name)
    return StudySpec(
        name=name,
        kind=kind,
        model=spec.name,
        dataset=base.dataset,
        space=tuple(chosen),
        metric=metric,
        base=cfg_lib.to_dict(base),
        prune=prune if kind == "tune" else "none",
        seed=base.seed,
    )


def run(
    spec: StudySpec,
    runs_dir: str | Path | None = None,
    *,
    storage: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    workers: int = 1,
    console=None,
) -> dict[str, Any]:
    """Run the study until ``trials`` are counted in it (a sweep: its whole grid) or ``timeout``
    seconds passed; then test the best trial once and write the plots. Rerunning continues."""
    from zoo.runs import rundir
    from zoo.runs.progress import default_console
    from zoo.tune import study as study_lib

    console = default_console(console)
    if workers < 1:
        raise ZooError(f"--workers {workers}: give 1 or more worker processes")
    if trials is not None and trials < 1:
        raise ZooError(f"--trials {trials}: give 1 or more")
    if timeout is not None and not timeout > 0:
        raise ZooError(f"--timeout {timeout}: give a number of seconds above 0")
    if spec.kind == "sweep":
        trials = _grid_size(spec)
    root = Path(runs_dir) if runs_dir else rundir.default_runs_dir()
    folder = root / spec.name
    rundir.check_output_dir(folder, "--runs-dir")
    study = study_lib.open_study(spec, folder, storage, worker=None if workers == 1 else 0)
    deadline = time.time() + timeout if timeout else None
    console.print(
        f"study {spec.name} ({spec.kind}, {spec.direction} {spec.metric}): {folder}; "
        f"{len(study.trials)} trials so far"
    )
    with LiveTable(spec, study, folder, console):
        if workers == 1:
            _work_here(spec, folder, study, trials, deadline)
        else:
            _work_in_processes(spec, folder, storage, trials, deadline, workers)
    test_best(spec, study, folder)
    out = report.summary(spec, study, folder)
    out["plots"] = report.write_plots(study, folder)
    return out


def _grid_size(spec: StudySpec) -> int:
    size = 1
    for p in spec.space:
        size *= len(p.choices)
    return size


def _work_here(spec, folder, study, trials, deadline) -> None:
    from zoo.runs import interrupts
    from zoo.tune import trials as trials_lib

    with interrupts.handled():
        try:
            trials_lib.work(spec, folder, study, trials_lib.Budget(trials, deadline))
        except interrupts.Interrupted as e:
            raise _stopped(spec, e.signum) from None


def _stopped(spec: StudySpec, signum: int):
    from zoo.runs import interrupts

    name = interrupts.SIGNALS.get(signum, f"signal {signum}")
    return interrupts.Interrupted(
        signum,
        f"{name}: study {spec.name} stopped; its finished trials are kept and the interrupted "
        "one resumes from its last epoch. Continue with the same command (or `zoo tune "
        f"--resume {spec.name}`)",
    )


def _launcher() -> list[str]:
    raw = os.environ.get(LAUNCHER_ENV)
    if raw:
        return list(json.loads(raw))
    return [sys.executable, "-c", "import sys; from cli import main; main(sys.argv[1:], 'zoo')"]


def _work_in_processes(spec, folder, storage, trials, deadline, workers: int) -> None:
    """K worker processes on this machine, each running the same loop on the shared storage;
    SIGINT/SIGTERM are passed on, and each stops at its next step boundary."""
    env = {**os.environ}
    if storage:
        env[STORAGE_ENV] = storage
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        env.setdefault(var, threads)  # K processes share the cores instead of each taking all
    args = ["tune-worker", str(folder)]
    if trials is not None:
        args += ["--trials", str(trials)]
    if deadline is not None:
        args += ["--deadline", repr(deadline)]
    procs = []
    for k in range(workers):
        log = (folder / f"worker-{k}.log").open("ab")
        cmd = [*_launcher(), *args, "--worker", str(k)]
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log))
    got: list[int] = []

    def forward(signum, frame):
        got.append(signum)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [p.wait() for p in procs]
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if got:
        raise _stopped(spec, got[0])
    bad = [(k, c) for k, c in enumerate(codes) if c != 0]
    if bad:
        k, code = bad[0]
        last = _last_line(folder / f"worker-{k}.log")
        raise ZooError(f"worker {k} of study {spec.name} ended with exit code {code}: {last}")


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    errors = [line for line in lines if line.startswith(("Error", "Interrupted"))]
    return (errors or lines or ["(empty log)"])[-1][:300]


def worker_main(
    folder: str | Path, trials: int | None, deadline: float | None, worker: int = 0
) -> int:
    """One worker process of ``--workers K`` (the hidden ``zoo tune-worker``)."""
    from zoo.tune import study as study_lib
    from zoo.tune import trials as trials_lib

    folder = Path(folder)
    spec, stored = study_lib.read_spec(folder)
    url = os.environ.get(STORAGE_ENV) or stored
    study = study_lib.open_study(spec, folder, url, worker=worker)
    from zoo.runs import interrupts

    with interrupts.handled():
        return trials_lib.work(spec, folder, study, trials_lib.Budget(trials, deadline))


def test_best(spec: StudySpec, study, folder: Path) -> dict[str, Any] | None:
    """The best trial's test metrics, computed once per best trial and kept in the study."""
    from zoo.training.evaluation import evaluate_target

    best = report.best_trial(study)
    if best is None:
        return None
    stored = study.user_attrs.get("best_test")
    if stored and stored.get("number") == best.number:
        return stored
    run_dir = folder / best.user_attrs.get("run", "")
    if not (run_dir / "model.keras").exists():
        return None  # trained on another machine (a database study): tested there
    base = spec.base
    metrics = evaluate_target(
        str(run_dir), data_dir=base.get("data_dir"), smoke=bool(base.get("smoke"))
    )
    tested = {
        "number": best.number,
        "split": metrics.get("split"),
        "test_accuracy": metrics.get("accuracy"),
        "test_loss": metrics.get("loss"),
        "examples": metrics.get("examples"),
    }
    study.set_user_attr("best_test", tested)
    return tested


class LiveTable:
    """One live rich table while the study runs (trial, state, parameters, epoch, value, best so
    far), read from the study's storage, so it shows the trials of every worker."""

    ROWS = 12

    def __init__(self, spec, study, folder, console):
        self.spec, self.study, self.folder, self.console = spec, study, folder, console
        self.live = None

    def render(self):
        from rich.table import Table

        rows = report.trial_rows(self.study, self.folder)
        best = report.best_trial(self.study)
        caption = (
            f"best so far: trial {best.number}, {self.spec.metric} {best.value:.4f}"
            if best is not None
            else "best so far: none finished yet"
        )
        table = Table(title=f"study {self.spec.name}", caption=caption)
        for col in ("trial", "state", *(p.name for p in self.spec.space), "epoch", "value"):
            table.add_column(col, justify="right" if col in ("trial", "epoch", "value") else "left")
        for r in rows[-self.ROWS :]:
            value = "" if r["value"] is None else f"{r['value']:.4f}"
            params = [report._fmt(r["params"].get(p.name)) for p in self.spec.space]
            epoch = "" if r["epochs"] is None else str(r["epochs"])
            table.add_row(str(r["number"]), r["state"], *params, epoch, value)
        return table

    def __enter__(self):
        from rich.live import Live

        self.live = Live(
            get_renderable=self.render,
            console=self.console,
            refresh_per_second=1,
            transient=not self.console.is_terminal,
        )
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        self.live.__exit__(*exc)
        if not self.console.is_terminal:
            self.console.print(self.render())


def resume_spec(name_or_folder: str, runs_dir: str | Path | None) -> tuple[StudySpec, str | None]:
    """``zoo tune --resume STUDY``: the stored settings of an existing study."""
    from zoo.runs import rundir
    from zoo.tune import study as study_lib

    path = Path(name_or_folder)
    if not (path / study_lib.RECORD).exists():
        path = (Path(runs_dir) if runs_dir else rundir.default_runs_dir()) / name_or_folder
    return study_lib.read_spec(path)


def show(name_or_folder: str, runs_dir=None, storage: str | None = None) -> dict[str, Any]:
    """``zoo tune show STUDY``: the summary of a study, and its plots refreshed."""
    from zoo.runs import rundir
    from zoo.tune import study as study_lib

    path = Path(name_or_folder)
    if not (path / study_lib.RECORD).exists():
        path = (Path(runs_dir) if runs_dir else rundir.default_runs_dir()) / name_or_folder
    spec, study = study_lib.load_study(path, storage)
    out = report.summary(spec, study, path)
    out["plots"] = report.write_plots(study, path)
    return out
