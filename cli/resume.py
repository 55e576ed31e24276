"""``zoo resume RUN``: continue an interrupted or failed run from its saved config."""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, data_dir_option, emit_json, json_option


@click.command("resume", cls=ZooCommand)
@click.argument("run", type=click.Path())
@click.option("--tpu", default=None, envvar="TPU_NAME", help="TPU address for --strategy tpu.")
@data_dir_option
@click.option(
    "--download/--no-download",
    default=True,
    show_default=True,
    help="Download the dataset when it is not prepared.",
)
@json_option
def resume(run, tpu, data_dir, download, as_json):
    """Resume RUN (a run directory) where it stopped, with the config it was started with.

    Training continues after the last finished epoch (the run saves its state after every
    epoch); a run stopped after its last epoch is only evaluated and saved. This is the command
    an interrupted `zoo train` or `zoo pretrain` prints. --data-dir is only needed when the
    dataset has moved.

    \b
    Examples:
      zoo resume runs/cnn-cifar10-20261201-101500
      zoo resume runs/bert_tiny-mlm --json
    """
    from zoo import api

    summary = api.resume(
        run, tpu=tpu, data_dir=data_dir, download=download, console=console(as_json)
    )
    if as_json:
        emit_json(summary)
