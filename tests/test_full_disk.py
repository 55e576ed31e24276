"""A full disk at every point of a run, on a real tmpfs: the resume states, the best weights and
model.keras are written by the zoo (staged in memory, then copied), so the answer is always one
line, exit 2, status failed, the previous state intact, and ``zoo resume`` finishing once space
is freed. HDF5 never sees the full disk (it printed tracebacks at exit, and once segfaulted)."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from helpers import PROJECT

LAUNCHER = [sys.executable, str(PROJECT / "tests" / "mocked_zoo.py"), "64"]
SIZE_KB = 3072
# Free space left beside the run, from "fails in the finish" down to "fails before epoch 1":
# measured with this mlp (epoch states of about 170 kB, two kept, plus best weights).
FILLS_KB = (2300, 2500, 2650, 2800, 2950)


@pytest.fixture
def tmpfs(tmp_path):
    mount = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_KB}k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip() or made.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def _zoo(tmp_path, runs, *args):
    env = {**os.environ, "ZOO_RUNS_DIR": str(runs), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [*LAUNCHER, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def _zoo_lines(stderr: str) -> list[str]:
    """stderr without TensorFlow's C++ start-up logging (not the zoo's to silence)."""
    noise = ("I0000", "E0000", "W0000", "WARNING: All log messages")
    return [line for line in stderr.strip().splitlines() if not line.startswith(noise)]


@pytest.mark.parametrize("fill_kb", FILLS_KB)
def test_full_disk_is_one_line_and_resumes(fill_kb, tmpfs, tmp_path):
    fill = tmpfs / "fill"
    fill.write_bytes(b"\0" * (fill_kb << 10))
    train = [
        "train",
        "mlp",
        "-d",
        "mnist",
        "--epochs",
        "3",
        "--batch-size",
        "64",
        "--run-name",
        "r",
        "--set",
        "model.hidden_units=[16]",
    ] + ["--data-dir", str(tmp_path / "tfds")]
    full = _zoo(tmp_path, tmpfs, *train)
    lines = _zoo_lines(full.stderr)
    assert full.returncode == 2, (full.returncode, full.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("Error: the disk is full"), lines
    assert "zoo resume" in lines[0]
    run = tmpfs / "r"
    record = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    assert record.get("status", "failed") == "failed", record
    state_file = run / "checkpoints" / "state.json"
    saved = json.loads(state_file.read_text())["epoch"] if state_file.exists() else 0

    fill.unlink()  # space freed
    if (run / "config.json").exists():
        done = _zoo(tmp_path, tmpfs, "resume", str(run))
        assert f"resuming at epoch {saved + 1}" in done.stdout or saved == 3, done.stdout
    else:  # stopped before its config was written: the same command starts it
        done = _zoo(tmp_path, tmpfs, *train)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] >= 0
