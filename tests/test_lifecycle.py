"""The run lifecycle: one owner per run (an OS lock), signals that checkpoint and say how to
resume, a finish that resumes without retraining, a vanished run directory, non-finite numbers,
damaged checkpoints, a full disk, and one number per run (train, eval and export agree)."""

import contextlib
import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from helpers import PROJECT, assert_one_line_error, smoke_args, zoo, zoo_json

LAUNCHER = [sys.executable, str(PROJECT / "tests" / "mocked_zoo.py")]


def _epochs(run_dir: Path) -> list[int]:
    with (run_dir / "history.csv").open() as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _env(tmp_path: Path, **extra) -> dict:
    return {
        **os.environ,
        "ZOO_RUNS_DIR": str(tmp_path / "runs"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **extra,
    }


def _mlp(tmp_path: Path, examples: int, epochs: int) -> list[str]:
    return [
        str(examples),
        "train",
        "mlp",
        "-d",
        "mnist",
        "--epochs",
        str(epochs),
        "--batch-size",
        "32",
        "--data-dir",
        str(tmp_path / "tfds"),
    ]


def _wait_for_epochs(proc, history: Path, rows: int, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().strip().splitlines()) > rows:
            return
        time.sleep(0.02)
    raise AssertionError(f"{history} did not reach {rows} epochs (exit {proc.poll()})")


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_lock_then_signal_checkpoints_and_resume_finishes(signum, code, tmp_path, monkeypatch):
    """A second process on the same run is refused naming the owner; SIGTERM/SIGINT stop at a
    step boundary with the run marked interrupted, one line naming `zoo resume`, exit 143/130;
    `zoo resume` then finishes with each epoch in the history once."""
    args = [*_mlp(tmp_path, 4000, 12), "--run-name", "cut"]
    run_dir = tmp_path / "runs" / "cut"
    proc = subprocess.Popen(
        [*LAUNCHER, *args],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_epochs(proc, run_dir / "history.csv", 1)
        monkeypatch.setenv("ZOO_RUNS_DIR", str(tmp_path / "runs"))
        second = zoo("train", *args[2:], ok=False)  # the same command, in this process
        assert_one_line_error(second, f"in use by another process (pid {proc.pid})")
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == code, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("Interrupted: ") and f"zoo resume {run_dir}" in last, err[-2000:]
    assert "Traceback" not in err
    record = _record(run_dir)
    assert record["status"] == "interrupted" and not (run_dir / "model.keras").exists()
    done = json.loads((run_dir / "checkpoints" / "state.json").read_text())["epoch"]
    assert 1 <= done < 12

    resumed = subprocess.run(
        [*LAUNCHER, "4000", "resume", str(run_dir)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming at epoch {done + 1}" in resumed.stdout
    assert _epochs(run_dir) == list(range(12))
    assert _record(run_dir)["status"] == "finished"
    assert not list((run_dir / "checkpoints").glob("epoch-*")), "resume states are removed"


def test_kill_during_finish_evaluates_instead_of_retraining(tmp_path):
    args = [*_mlp(tmp_path, 200, 2), "--run-name", "fin"]
    run_dir = tmp_path / "runs" / "fin"
    killed = subprocess.run(
        [*LAUNCHER, *args],
        env=_env(tmp_path, ZOO_TEST_FAULT="kill_in_evaluate"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    record = _record(run_dir)
    assert record["status"] == "running" and record["trained"] is True
    assert (run_dir / "model.keras").exists() and not (run_dir / "metrics.json").exists()

    rerun = subprocess.run(
        [*LAUNCHER, *args], env=_env(tmp_path), capture_output=True, text=True, timeout=240
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "(finishing)" in rerun.stdout and "epoch 1/2" not in rerun.stdout
    assert _epochs(run_dir) == [0, 1], "no epoch was trained again"
    assert _record(run_dir)["status"] == "finished"
    assert json.loads((run_dir / "metrics.json").read_text())["test_accuracy"] >= 0


def _train_args(name: str, *extra: str) -> tuple[str, ...]:
    return smoke_args("mlp", "mnist", name, *extra)


@contextlib.contextmanager
def _failing_save(at_epoch: int, action):
    """Within the block, after saving epoch ``at_epoch`` call ``action(folder)``."""
    from zoo.runs import checkpoints

    original = checkpoints.save

    def save(model, folder, epochs_done, *args):
        original(model, folder, epochs_done, *args)
        if epochs_done == at_epoch:
            action(folder)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoints, "save", save)
        yield


def _disk_full(folder):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_then_damaged_checkpoints(mock_tfds, workdir):
    """Disk full mid-training: one line, exit 2, status failed (not running). Resuming skips a
    truncated newest state for the one before; with none readable, one line says how to
    restart."""

    with _failing_save(2, _disk_full):
        full = zoo(*_train_args("d", "--epochs", "3"), ok=False)
    assert_one_line_error(full, "disk is full", "zoo resume runs/d")
    run_dir = Path("runs/d")
    assert _record(run_dir)["status"] == "failed"

    ckpt = run_dir / "checkpoints"
    newest = ckpt / "epoch-0002.weights.h5"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated
    state = json.loads((ckpt / "state.json").read_text())
    times = state["elapsed_s"]  # the training time up to each kept state
    assert 0 < times["epoch-0001.weights.h5"] < times["epoch-0002.weights.h5"]
    times["epoch-0001.weights.h5"] = 5000.0  # as if epoch 1 had taken that long
    (ckpt / "state.json").write_text(json.dumps(state))
    made_by = _record(run_dir)["command"]
    with mock.patch.object(sys, "argv", ["zoo", "resume", "runs/d"]):
        result = zoo("resume", "runs/d")
    assert "resuming at epoch 2" in result.output  # fell back to epoch 1's state
    wall = json.loads((run_dir / "metrics.json").read_text())["wall_time_s"]
    assert 5000 < wall < 5600, "the wall time goes on from the restored state's, not from 0"
    assert _epochs(run_dir) == [0, 1, 2] and _record(run_dir)["status"] == "finished"
    record = _record(run_dir)  # the command that made the run stays, the resume is added
    assert record["command"] == made_by and record["resumed_with"] == [["zoo", "resume", "runs/d"]]

    with _failing_save(2, _disk_full):
        zoo(*_train_args("e", "--epochs", "3"), ok=False)
    for state in Path("runs/e/checkpoints").glob("epoch-*.weights.h5"):
        state.write_bytes(b"\x89HDF\r\n")
    broken = zoo("resume", "runs/e", ok=False)
    assert_one_line_error(broken, "no readable checkpoint", "restart training from epoch 1")


def test_run_directory_removed_during_training(mock_tfds, workdir):
    with _failing_save(1, lambda folder: shutil.rmtree(folder.parent)):
        result = zoo(*_train_args("gone", "--epochs", "3"), ok=False)
    assert_one_line_error(result, "runs/gone was removed during training")
    assert not Path("runs/gone").exists(), "nothing of the run was recreated"


@pytest.mark.parametrize(
    "flag,value,needle",
    [
        ("--lr", "inf", "learning_rate must be in (0.0, 10.0]"),
        ("--set", "learning_rate=.nan", "learning_rate must be in"),  # YAML NaN
        ("--set", "learning_rate=nan", "learning_rate must be a number"),
        ("--set", "weight_decay=-1", "weight_decay must be in [0.0, 1.0]"),
        ("--set", "momentum=1.5", "momentum must be in [0.0, 1.0)"),
        ("--set", "label_smoothing=.inf", "label_smoothing must be in"),
        ("--warmup-epochs", "-1", "warmup_epochs must be in"),
        ("--warmup-epochs", "nan", "warmup_epochs must be in"),
    ],
)
def test_non_finite_and_out_of_range_training_values(flag, value, needle, workdir):
    result = zoo("train", "mlp", "-d", "mnist", flag, value, ok=False)
    assert_one_line_error(result, needle)
    assert not Path("runs").exists()


def test_non_finite_loss_stops_the_run_naming_epoch_and_step(mock_tfds, workdir, monkeypatch):
    from zoo.data import pipelines

    original = pipelines.make_pipeline

    def nan_labels(*args, **kwargs):  # NaN targets: the very first loss is NaN
        return original(*args, **kwargs).map(lambda x, y: (x, y * float("nan")))

    monkeypatch.setattr(pipelines, "make_pipeline", nan_labels)
    result = zoo(*_train_args("nan", "--batch-size", "8", "--steps-per-execution", "1"), ok=False)
    assert_one_line_error(result, "the loss is nan at epoch 1, step 1 of run")
    assert _record(Path("runs/nan"))["status"] == "failed"
    assert not Path("runs/nan/model.keras").exists()
    result = zoo(*_train_args("nan3", "--batch-size", "8", "--steps-per-execution", "3"), ok=False)
    assert_one_line_error(result, "the loss is nan at epoch 1, steps 1-3 of run")  # one call


def test_spoiled_weights_are_never_saved_as_finished(mock_tfds, workdir, monkeypatch):
    """NaN images: relu hides them from the loss, but the gradients spoil the first layer's
    weights; the finish refuses to save such a model."""
    import tensorflow as tf

    from zoo.data import preprocess

    monkeypatch.setattr(
        preprocess, "prepare_images", lambda images: tf.cast(images, tf.float32) * np.nan
    )
    result = zoo(*_train_args("spoiled"), ok=False)
    assert_one_line_error(result, "non-finite weights")
    assert _record(Path("runs/spoiled"))["status"] == "failed"
    assert not Path("runs/spoiled/model.keras").exists()


def test_non_finite_validation_loss_and_weights_are_refused(mock_tfds, workdir):
    import keras

    from zoo.errors import ZooError
    from zoo.export import loading
    from zoo.runs import callbacks, rundir
    from zoo.runs.interrupts import StopRequest

    run = rundir.Run(workdir)
    guard = callbacks.Guard(run, StopRequest())
    with pytest.raises(ZooError, match="validation loss is nan after epoch 3"):
        guard.on_epoch_end(2, {"loss": 0.5, "val_loss": float("nan")})
    guard.on_epoch_end(2, {"loss": 0.5, "val_loss": 0.7})  # finite: no error

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    loading.check_finite(model, f"run {run.name}")
    model.layers[0].kernel.assign(np.full((3, 2), np.inf, np.float32))
    with pytest.raises(ZooError, match="non-finite weights"):
        loading.check_finite(model, f"run {run.name}")

    # A finished run whose model.keras holds NaN weights is never exported.
    zoo(*_train_args("ok"))
    model = keras.saving.load_model("runs/ok/model.keras")
    model.set_weights([w * np.nan for w in model.get_weights()])
    model.save("runs/ok/model.keras")
    result = zoo("export", "runs/ok", ok=False)
    assert_one_line_error(result, "non-finite weights")
    assert not Path("saved_models").exists()


def test_one_number_per_run(mock_tfds, workdir):
    """bf16 training, float32 evaluation: zoo eval of the run reproduces metrics.json exactly,
    and of the export to the printed digits."""
    args = smoke_args("cnn", "mnist", "one", "--precision", "mixed_bfloat16")
    summary = zoo_json(*args)
    again = zoo_json("eval", "runs/one", "--smoke")
    assert again["accuracy"] == summary["test_accuracy"]
    assert again["loss"] == summary["test_loss"]
    zoo("export", "runs/one")
    served = zoo_json("eval", "saved_models/one/1", "--smoke")
    assert f"{served['accuracy']:.4f}" == f"{summary['test_accuracy']:.4f}"
    assert f"{served['loss']:.4f}" == f"{summary['test_loss']:.4f}"


def test_legacy_run_directory_resumes_and_evaluates(mock_tfds, workdir):
    """A run written by the previous layout (Keras BackupAndRestore's backup/ folder, no task in
    run.json) resumes; finished ones evaluate and export as before."""

    with _failing_save(2, _disk_full):
        zoo(*_train_args("old", "--epochs", "3"), ok=False)
    run_dir = Path("runs/old")
    ckpt = run_dir / "checkpoints"
    (ckpt / "backup").mkdir()
    (ckpt / "epoch-0002.weights.h5").rename(ckpt / "backup" / "latest.weights.h5")
    (ckpt / "backup" / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": 0}))
    for f in [*ckpt.glob("epoch-*"), ckpt / "state.json"]:
        f.unlink()
    record = _record(run_dir)
    for key in ("task", "trained", "error", "ended"):
        record.pop(key, None)
    record.update(status="running", pid=2**22 + 7)
    (run_dir / "run.json").write_text(json.dumps(record))
    result = zoo(*_train_args("old", "--epochs", "3"))
    assert "resuming at epoch 3" in result.output
    assert not (ckpt / "backup").exists()
    assert zoo_json("eval", "runs/old", "--smoke")["examples"] > 0


@pytest.mark.parametrize("keep", ["best", "last"])
def test_the_run_keeps_the_best_or_the_last_weights(keep, mock_tfds, workdir):
    """--keep last: model.keras (tested, exported) holds the final epoch's weights and no best
    checkpoint is written; --keep best: the best validation epoch's checkpoint."""
    import keras

    from zoo import api, engine
    from zoo.tasks import get_task

    best_file = workdir / "runs/k/checkpoints/best.weights.h5"

    class Watch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # a last epoch at a rate that spoils it
            self.model.optimizer.learning_rate.assign(1e3 if epoch == 2 else 1e-3)

        def on_train_end(self, logs=None):
            self.final = self.model.get_weights()
            self.best = None
            if best_file.exists():
                clone = keras.models.clone_model(self.model)
                clone.load_weights(str(best_file))
                self.best = clone.get_weights()

    flags = {"smoke": True, "epochs": 3, "keep": keep, "data_dir": "tfds", "schedule": "constant"}
    config = api.resolve_train_config("mlp", "mnist", flags=flags)
    watch = Watch()
    summary = engine.train(get_task("classify"), config, "k", extra_callbacks=(watch,))
    kept = keras.saving.load_model(workdir / "runs/k/model.keras").get_weights()
    expected = watch.final if keep == "last" else watch.best
    assert summary["weights"] == keep and (watch.best is None) == (keep == "last")
    assert all(np.array_equal(a, b) for a, b in zip(kept, expected, strict=True))
    if keep == "best":  # here the spoiled last epoch is not the best one
        assert not all(np.array_equal(a, b) for a, b in zip(kept, watch.final))
