"""Shared pieces of the CLI: the root group's error handling, pattern groups, option bundles and
output helpers. Nothing here imports TensorFlow."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from zoo.errors import ZooError


def quiet_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up chatter (oneDNN, CUDA probing) kept out of the
    terminal. TF 2.21 writes those lines before absl logging is initialised, so
    TF_CPP_MIN_LOG_LEVEL alone does not hide them: stderr is muted at the file-descriptor level
    for the import and the first device query only. ``--debug`` keeps everything."""
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore", message=".*shuffle=True.*")
    warnings.filterwarnings("ignore", message=".*ran out of data.*")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                import tensorflow as tf

                tf.config.list_physical_devices()
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")


class ZooGroup(click.Group):
    """Root group: user mistakes become one line on stderr and exit code 2, no traceback
    (``--debug`` shows it)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv or bool(os.environ.get("ZOO_DEBUG"))
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.Abort:  # Ctrl-C outside training (Click turns it into Abort)
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except click.UsageError as e:
            if debug:
                raise
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
            click.echo(f"Error: {e.format_message()}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except ZooError as e:
            if debug:
                raise
            click.echo(f"{e.prefix}: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except OSError as e:
            if debug or e.errno is None:
                raise
            click.echo(
                f"Error: {e.strerror}: {e.filename or ''} (see --debug for details)", err=True
            )
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


class ZooCommand(click.Command):
    """A command that quiets TensorFlow's start-up once its arguments parsed (so --help and
    usage errors stay instant)."""

    def invoke(self, ctx):
        if not os.environ.get("ZOO_DEBUG") and "--debug" not in sys.argv:
            quiet_tensorflow()
        return super().invoke(ctx)


class PatternGroup(click.Group):
    """A group that lists things when its first word is a pattern, not a subcommand:
    ``zoo models 'resnet*'`` lists, ``zoo models info resnet20`` runs ``info``."""

    def parse_args(self, ctx, args):
        takes_value = {
            o for p in self.params if isinstance(p, click.Option) and not p.is_flag for o in p.opts
        }
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                break
            if arg.startswith("-"):
                i += 2 if arg in takes_value else 1
                continue
            if arg not in self.commands:
                args = [*args[:i], "--pattern", arg, *args[i + 1 :]]
            break
        return super().parse_args(ctx, args)

    needs_tensorflow = True  # listings that read only files (models, runs) say False

    def invoke(self, ctx):
        if not ctx.protected_args and self.needs_tensorflow and not os.environ.get("ZOO_DEBUG"):
            quiet_tensorflow()
        return super().invoke(ctx)


class FileListingGroup(PatternGroup):
    """A pattern group whose listing reads files only: TensorFlow is never imported for it."""

    needs_tensorflow = False


def pattern_option(fn: Callable) -> Callable:
    return click.option("--pattern", hidden=True, default=None)(fn)


def json_option(fn: Callable) -> Callable:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print machine-readable JSON on stdout (keys in README).",
    )(fn)


def data_dir_option(fn: Callable) -> Callable:
    return click.option(
        "--data-dir",
        envvar="TFDS_DATA_DIR",
        default=None,
        show_envvar=True,
        help="TFDS data directory (default ~/tensorflow_datasets).",
    )(fn)


def runs_dir_option(fn: Callable) -> Callable:
    return click.option(
        "--runs-dir",
        envvar="ZOO_RUNS_DIR",
        default="runs",
        show_default=True,
        show_envvar=True,
        help="Where run directories live.",
    )(fn)


def console(as_json: bool):
    """Human output: stdout normally, stderr when stdout carries JSON."""
    from rich.console import Console

    stream = sys.stderr if as_json else sys.stdout
    width = None if stream.isatty() else 160  # logs and pipes: no wrapping at 80 columns
    return Console(stderr=as_json, highlight=False, soft_wrap=True, markup=False, width=width)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
