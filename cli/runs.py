"""``zoo runs [PATTERN]`` and ``zoo runs show RUN``."""

from __future__ import annotations

import click

from cli._common import (
    FileListingGroup,
    ZooCommand,
    console,
    emit_json,
    json_option,
    pattern_option,
    runs_dir_option,
)


def _fmt(value, digits=4):
    return (
        "-"
        if value is None
        else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))
    )


@click.group("runs", cls=FileListingGroup, invoke_without_command=True)
@click.option(
    "--sort",
    default="started",
    show_default=True,
    help="name, model, dataset, status, test_accuracy, best_val_accuracy or started; "
    "prefix - for descending (e.g. --sort -test_accuracy).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "markdown"]),
    default="table",
    show_default=True,
    help="csv / markdown: the results table of finished runs (numbers, device, precision, the "
    "command that reproduces each).",
)
@runs_dir_option
@pattern_option
@json_option
@click.pass_context
def runs(ctx, sort, fmt, runs_dir, pattern, as_json):
    """List runs: model, dataset, epochs, best validation and test accuracy, status
    (finished, running, interrupted, failed).

    \b
    Examples:
      zoo runs
      zoo runs 'cnn-*' --sort -test_accuracy
      zoo runs --format csv > results/results.csv
      zoo runs show runs/cnn-fashion_mnist
    """
    if ctx.invoked_subcommand:
        return
    from rich.table import Table

    from zoo import api

    if fmt != "table":
        click.echo(api.results_table(runs_dir, pattern, fmt), nl=False)
        return
    rows = api.list_run_rows(runs_dir, pattern, sort)
    if as_json:
        emit_json(rows)
        return
    out = console(False)
    if not rows:
        out.print(f"no runs in {runs_dir} (start one with `zoo train MODEL --dataset NAME`)")
        return
    table = Table("run", "model", "dataset", "epochs", "best val acc", "test acc", "status")
    for r in rows:
        table.add_row(
            r["name"],
            _fmt(r["model"]) + (" (mlm)" if r.get("task") == "mlm" else ""),
            _fmt(r["dataset"]),
            f"{r['epochs_done']}/{_fmt(r['epochs'])}",
            _fmt(r["best_val_accuracy"]),
            _fmt(r["test_accuracy"]),
            r["status"],
        )
    out.print(table)


@runs.command("show", cls=ZooCommand)
@click.argument("run", type=click.Path())
@json_option
def show(run, as_json):
    """Everything about one run: config, record (versions, devices, command, git commit),
    progress and metrics."""
    from zoo import api

    data = api.show_run(run)
    if as_json:
        emit_json(data)
        return
    out = console(False)
    out.print(
        f"{data['name']}: {data['model']} on {data['dataset']}, {data['status']}, "
        f"epochs {data['epochs_done']}/{data['epochs']}, best val acc "
        f"{_fmt(data['best_val_accuracy'])}, test acc {_fmt(data['test_accuracy'])}"
    )
    for section in ("config", "record"):
        out.print(f"{section}:")
        for k, v in data[section].items():
            out.print(f"  {k} = {v}")
