"""``zoo tune MODEL -d D``, ``zoo tune show STUDY`` and ``zoo sweep MODEL -d D --seeds 0,1,2``:
many ordinary runs, searched or swept with Optuna, resumable and shared by many processes."""

from __future__ import annotations

import click

from cli._common import ZooCommand, ZooGroup, console, emit_json, json_option, runs_dir_option
from cli.train import classifier_options, run_options

FORMATS = ("table", "csv", "json", "markdown")

study_options = [
    click.option(
        "--study",
        default=None,
        help="Study name (default: tune-MODEL-DATASET); its folder is RUNS_DIR/STUDY/.",
    ),
    click.option(
        "--param",
        "params",
        multiple=True,
        metavar="NAME=SPEC",
        help="A searched key: lr=log:1e-4..1e-2, model.dropout=0.0..0.5, batch_size=int:32..256, "
        "optimizer=adam,sgd. Replaces the family's default space.",
    ),
    click.option(
        "--space",
        "space_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="YAML file of NAME: SPEC lines (a list for choices); --param items override it.",
    ),
    click.option(
        "--storage",
        default=None,
        envvar="ZOO_STUDY_STORAGE",
        help="Database URL shared by many machines (postgresql://USER:PASS@HOST/DB, "
        "sqlite:///FILE). Default: the journal file RUNS_DIR/STUDY/study.log.",
    ),
    click.option(
        "--workers",
        type=int,
        default=1,
        show_default=True,
        help="Worker processes on this machine, sharing the study (and the cores).",
    ),
    click.option(
        "--metric",
        default="val_accuracy",
        show_default=True,
        help="Validation metric to optimise (val_accuracy, val_top5: maximised; val_loss: "
        "minimised). The test split is never searched on.",
    ),
]


def _apply(options):
    def wrap(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return wrap


class TuneGroup(ZooGroup):
    """``zoo tune MODEL ...`` runs a study; ``zoo tune show STUDY`` shows one."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("tune", cls=TuneGroup, invoke_without_command=False)
def tune():
    """Search the training recipe of MODEL on a dataset with Optuna; every trial is an
    ordinary run (RUNS_DIR/STUDY/trial-NNNN/) trained by the same engine as `zoo train`.

    Trials are compared on a validation metric, pruned at epoch ends when they fall behind
    (median of the trials so far), and the best trial is evaluated once on the test split. The
    study lives in a journal file in its folder (or --storage DB for many machines): kill it
    at any moment and run the same command again to continue, with the interrupted trial
    resumed from its last epoch. Optuna rather than KerasTuner: its storage makes studies
    resumable and shared by many processes and machines for free.

    \b
    Examples:
      zoo tune cnn -d cifar10 --trials 16                        # the family's default space
      zoo tune simple_rnn -d spoken_digit --param lr=log:1e-4..1e-2 --param model.units=int:32..256
      zoo tune cnn -d cifar10 --trials 16 --workers 2 --prune none
      zoo tune cnn -d cifar10 --storage postgresql://me:pw@db/studies   # on every machine
      zoo tune show tune-cnn-cifar10                             # trials, best, its command
    """


@tune.command("run", cls=ZooCommand, hidden=True)
@run_options
@classifier_options
@_apply(study_options)
@click.option("--trials", type=int, default=20, show_default=True, help="Trials in the study.")
@click.option("--timeout", type=float, default=None, help="Start no trial after SECONDS.")
@click.option(
    "--prune",
    default="median",
    show_default=True,
    help="median|hyperband|none: stop a trial at an epoch end when it falls behind.",
)
@click.option("--resume", "resume_study", is_flag=True, help="Continue study MODEL as it was.")
def tune_run(model, dataset, config_file, sets, run_name, runs_dir, tpu, download, print_config,
             as_json, study, params, space_file, storage, workers, metric, trials, timeout, prune,
             resume_study, **flags):  # fmt: skip
    """Run (or continue) a study of MODEL on --dataset."""
    from zoo import api

    _no_run_name(run_name)
    if resume_study:
        spec, stored = api.tune_spec("tune", model, resume=True, runs_dir=runs_dir)
        storage = storage or stored
    else:
        spec, _ = api.tune_spec("tune", model, dataset, study=study, params=params,
                                space_file=space_file, metric=metric, prune=prune,
                                config_file=config_file, sets=sets, flags=flags)  # fmt: skip
    if print_config:
        emit_json(spec.to_json())
        return
    out = api.tune(spec, runs_dir, storage=storage, trials=trials, timeout=timeout,
                   workers=workers, console=console(as_json))  # fmt: skip
    _print(out, as_json)


@tune.command("show", cls=ZooCommand)
@click.argument("study")
@runs_dir_option
@click.option("--storage", default=None, envvar="ZOO_STUDY_STORAGE", help="The study's DB URL.")
@click.option("--format", "fmt", default="table", show_default=True, help="|".join(FORMATS))
@json_option
def tune_show(study, runs_dir, storage, fmt, as_json):
    """Trials of STUDY (a name under RUNS_DIR or a study folder): state, parameters, value,
    epochs, duration; the best trial, its test accuracy and the `zoo train` command that
    reproduces it; for sweeps, the median and spread per value. Writes the study's plots
    (optimisation history, parameter importances, parallel coordinates) as PNGs beside it.

    \b
    Examples:
      zoo tune show tune-cnn-cifar10
      zoo tune show runs/sweep-cnn-cifar10 --format csv > trials.csv
    """
    from zoo import api
    from zoo.errors import ZooError

    if fmt not in FORMATS:
        raise ZooError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    fmt = "json" if as_json else fmt
    out = api.tune_show(study, runs_dir, storage)
    if fmt in ("csv", "markdown"):
        from zoo.tune import report

        rows = out["trials"]
        click.echo(report.to_csv(rows) if fmt == "csv" else report.to_markdown(rows), nl=False)
    else:
        _print(out, fmt == "json")


@click.command("sweep", cls=ZooCommand)
@run_options
@classifier_options
@_apply(study_options)
@click.option(
    "--seeds", default=None, help="Seeds to run, e.g. 0,1,2 (a grid with the --param values)."
)
def sweep(model, dataset, config_file, sets, run_name, runs_dir, tpu, download, print_config,
          as_json, study, params, space_file, storage, workers, metric, seeds, **flags):  # fmt: skip
    """Run MODEL on a grid of seeds and listed values (every combination once), each an ordinary
    run in RUNS_DIR/STUDY/trial-NNNN/; `zoo tune show STUDY` prints the median and spread per
    value. How the median-of-3 rows of results/results.csv are made. Rerun to continue.

    \b
    Examples:
      zoo sweep cnn -d cifar10 --seeds 0,1,2
      zoo sweep resnet20 -d cifar10 --seeds 0,1 --param label_smoothing=0.0,0.1
    """
    from zoo import api

    _no_run_name(run_name)
    seed_list = _seeds(seeds)
    spec, _ = api.tune_spec("sweep", model, dataset, study=study, params=params,
                            space_file=space_file, seeds=seed_list, metric=metric,
                            config_file=config_file, sets=sets, flags=flags)  # fmt: skip
    if print_config:
        emit_json(spec.to_json())
        return
    out = api.tune(spec, runs_dir, storage=storage, workers=workers, console=console(as_json))
    _print(out, as_json)


def _no_run_name(run_name: str | None) -> None:
    from zoo.errors import ZooError

    if run_name:
        raise ZooError(
            "--run-name does not apply to a study: its runs are trial-NNNN; name the study "
            "with --study"
        )


def _seeds(text: str | None) -> list[int]:
    from zoo.errors import ZooError

    if not text:
        return []
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise ZooError(f"--seeds {text}: list whole numbers, e.g. --seeds 0,1,2") from None
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ZooError(f"--seeds {text}: list distinct seeds of 0 or more")
    return seeds


@click.command("tune-worker", cls=ZooCommand, hidden=True)
@click.argument("folder")
@click.option("--trials", type=int, default=None)
@click.option("--deadline", type=float, default=None)
@click.option("--worker", type=int, default=0)
def tune_worker(folder, trials, deadline, worker):
    """One worker process of `zoo tune --workers K` (started by it)."""
    from zoo.tune.runner import worker_main

    worker_main(folder, trials, deadline, worker)


def _print(out: dict, as_json: bool) -> None:
    if as_json:
        emit_json(out)
        return
    from rich.table import Table

    c = console(False)
    names = sorted({k for t in out["trials"] for k in t["params"]})
    table = Table(title=f"study {out['study']} ({out['kind']}: {out['metric']})")
    for col in ("trial", "state", *names, "value", "epochs", "duration (s)", "note"):
        table.add_column(col)
    for t in out["trials"]:
        value = "" if t["value"] is None else f"{t['value']:.4f}"
        params = [_fmt(t["params"].get(n)) for n in names]
        epochs = "" if t["epochs"] is None else str(t["epochs"])
        took = "" if t["duration_s"] is None else f"{t['duration_s']:.0f}"
        table.add_row(str(t["number"]), t["state"], *params, value, epochs, took, t["note"])
    c.print(table)
    states = ", ".join(f"{n} {s}" for s, n in sorted(out["states"].items()))
    c.print(f"trials: {states or 'none'}")
    for row in out.get("per_value", []):
        c.print(
            f"{row['param']}={_fmt(row['value'])}: median {row['median']:.4f} over "
            f"{row['trials']} (min {row['min']:.4f}, max {row['max']:.4f})"
        )
    best = out.get("best")
    if best is None:
        c.print("best: none finished yet")
        return
    c.print(f"best: trial {best['number']}, {out['metric']} {best['value']:.4f} ({best['run']})")
    test = best.get("test")
    if test:
        c.print(
            f"best trial on the test split: accuracy {test['test_accuracy']:.4f} "
            f"({test.get('examples')} examples); validation {out['metric']} {best['value']:.4f}"
        )
    if best.get("command"):
        c.print(f"reproduce: {best['command']}")
    for p in out.get("plots", []):
        c.print(f"plot: {p}")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
