"""Shared test helpers (KerasHub-style): CLI invocation and model checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from cli import main

PROJECT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT.parent / "shared" / "data"


def zoo(*args: str, ok: bool = True):
    """Run the CLI in-process; assert success unless ``ok`` is False."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, f"zoo {' '.join(args)} failed:\n{result.output}"
    return result


def smoke_args(model: str, dataset: str, run_name: str, *extra: str) -> tuple[str, ...]:
    """Arguments of `zoo train MODEL -d DATASET --smoke` into runs/RUN_NAME, data dir ./tfds."""
    flags = f"--smoke --run-name {run_name} --data-dir tfds".split()
    return ("train", model, "-d", dataset, *flags, *extra)


def train_smoke(model: str, dataset: str, run_name: str, *extra: str):
    return zoo(*smoke_args(model, dataset, run_name, *extra))


def zoo_json(*args: str):
    result = zoo(*args, "--json")
    return json.loads(result.stdout)


def assert_one_line_error(result, *needles: str) -> None:
    """Usage errors: exit code 2, exactly one line on stderr, no traceback."""
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("Error: ") and "Traceback" not in result.output
    for needle in needles:
        assert needle in err, err


def tree(path: Path) -> dict[str, float]:
    """Every file under ``path`` with its modification time (to check nothing changed)."""
    return {str(p): p.stat().st_mtime for p in Path(path).rglob("*") if p.is_file()}


def tiny_image(height: int = 28, width: int = 28, channels: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def built_once(tmp_path_factory, name: str, populate) -> Path:
    """A folder filled once per test module by ``populate(folder)``, run inside it on mocked
    TFDS (for module-scoped fixtures that many cases read or copy)."""
    import os

    import tensorflow_datasets as tfds

    workdir = tmp_path_factory.mktemp(name)
    old = os.getcwd()
    os.chdir(workdir)
    try:
        with tfds.testing.mock_data(num_examples=24):
            populate(workdir)
    finally:
        os.chdir(old)
    return workdir
