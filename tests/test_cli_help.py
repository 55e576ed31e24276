import subprocess
import sys

import click
import pytest
from helpers import zoo

from cli import main


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from cli import main\n"
        "try:\n    main(['--help'], prog_name='zoo')\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow imported by zoo --help'\n"
        "assert 'keras' not in sys.modules\n"
        "assert 'keras_hub' not in sys.modules, 'KerasHub imported by zoo --help'\nprint('clean')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "clean" in out.stdout and "Usage: zoo" in out.stdout


def _walk(group, path=()):
    for name, cmd in group.commands.items():
        yield (*path, name)
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, (*path, name))


@pytest.mark.parametrize("path", [()] + list(_walk(main)), ids=lambda p: " ".join(p) or "zoo")
def test_every_command_has_help(path):
    result = zoo(*path, "--help")
    assert "Usage:" in result.output
    assert len(result.output) > 80


def test_subcommand_help_is_fast_and_tf_free():
    code = (
        "import sys; from cli import main\n"
        "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
