"""tf.distribute on CPU: mirrored over 2 logical devices equals one device, a SIGKILLed run
resumes to the same metrics, two local workers train through the CLI, strategy errors."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import PROJECT, assert_one_line_error, zoo, zoo_json

LAUNCHER = [sys.executable, str(PROJECT / "tests" / "mocked_zoo.py")]


def _losses(run_dir: Path) -> list[float]:
    with (run_dir / "history.csv").open() as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_mirrored_matches_one_device(mock_tfds, workdir):
    common = (
        "train",
        "mlp",
        "-d",
        "mnist",
        "--smoke",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--data-dir",
        "tfds",
        "--deterministic",
        "--precision",
        "float32",  # bfloat16 rounding depends on the reduction order across replicas
    )
    one = zoo_json(*common, "--strategy", "one_device", "--run-name", "one")
    two = zoo_json(*common, "--strategy", "mirrored", "--run-name", "two")
    report = json.loads(Path("runs/two/distribute.json").read_text())
    assert report["replicas"] == 2 and report["per_replica_batch_size"] == 4
    assert report["strategy"] == "MirroredStrategy"
    np.testing.assert_allclose(_losses(Path("runs/one")), _losses(Path("runs/two")), rtol=1e-4)
    assert one["test_accuracy"] == pytest.approx(two["test_accuracy"], abs=1e-6)


def _run(args, env, timeout=240):
    return subprocess.run(
        [*LAUNCHER, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_sigkilled_run_resumes_to_identical_metrics(tmp_path):
    env = {**os.environ, "ZOO_RUNS_DIR": str(tmp_path / "runs"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [
        "2000",
        "train",
        "mlp",
        "-d",
        "mnist",
        "--epochs",
        "4",
        "--batch-size",
        "32",
        "--deterministic",
        "--data-dir",
        str(tmp_path / "tfds"),
        "--augment",
        "flip_crop",
    ]
    full = _run([*args, "--run-name", "full"], env)
    assert full.returncode == 0, full.stderr[-2000:]

    proc = subprocess.Popen(
        [*LAUNCHER, *args, "--run-name", "cut"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    history = tmp_path / "runs" / "cut" / "history.csv"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().strip().splitlines()) >= 2:
            break  # one epoch done and backed up
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_json = json.loads((tmp_path / "runs" / "cut" / "run.json").read_text())
    assert run_json["status"] == "running", "the run finished before it could be killed"
    assert not (tmp_path / "runs" / "cut" / "metrics.json").exists()

    resumed = _run([*args, "--run-name", "cut"], env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming at epoch" in resumed.stdout
    a = json.loads((tmp_path / "runs" / "full" / "metrics.json").read_text())
    b = json.loads((tmp_path / "runs" / "cut" / "metrics.json").read_text())
    assert b["test_loss"] == a["test_loss"] and b["test_accuracy"] == a["test_accuracy"]
    assert _losses(tmp_path / "runs" / "cut")[-1] == _losses(tmp_path / "runs" / "full")[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_train_through_the_cli(tmp_path):
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(tf_config),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TMPDIR": str(tmp_path / f"tmp{index}"),
        }
        (tmp_path / f"tmp{index}").mkdir()
        procs.append(
            subprocess.Popen(
                [
                    *LAUNCHER,
                    "64",
                    "train",
                    "mlp",
                    "-d",
                    "mnist",
                    "--smoke",
                    "--epochs",
                    "2",
                    "--strategy",
                    "multi_worker",
                    "--batch-size",
                    "16",
                    "--run-name",
                    "mw",
                    "--runs-dir",
                    str(tmp_path / "runs"),
                    "--data-dir",
                    str(tmp_path / "tfds"),
                    "--export",
                    str(tmp_path / "exports"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
            )
        )
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["mw"]
    assert len(list((tmp_path / "runs").rglob("best.weights.h5"))) == 1
    assert [p.name for p in (tmp_path / "exports" / "mw").iterdir()] == ["1"]
    report = json.loads((tmp_path / "runs" / "mw" / "distribute.json").read_text())
    assert report["strategy"] == "MultiWorkerMirroredStrategy" and report["replicas"] == 2
    worker_state = list((tmp_path / "tmp1").rglob("best.weights.h5"))
    assert worker_state, "the non-chief worker keeps its state in its scratch directory"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--strategy", "tpu"], "--tpu"),
        (["--strategy", "multi_worker"], "TF_CONFIG"),
        (["--strategy", "mirroed"], "did you mean mirrored"),
        (["--precision", "fp16"], "unknown precision"),
        (["--xla", "maybe"], "unknown xla"),
    ],
)
def test_strategy_errors(args, needle, mock_tfds, workdir, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("TPU_NAME", raising=False)
    result = zoo("train", "mlp", "-d", "mnist", "--smoke", *args, ok=False)
    assert_one_line_error(result, needle)
    assert not Path("runs").exists()


def test_mixed_precision_smoke(mock_tfds, workdir, monkeypatch):
    from zoo.training import distribute

    # On a CPU without bf16 instructions the run says that bf16 is emulated there.
    monkeypatch.setattr(distribute, "cpu_has_bf16_matmul", lambda: False)
    args = ("train", "cnn", "-d", "cifar10", "--smoke", "--precision", "mixed_bfloat16")
    result = zoo(*args, "--data-dir", "tfds", "--json")
    assert "no bf16 matmul instructions" in result.stderr
    out = json.loads(result.stdout)
    assert np.isfinite(out["test_loss"])
    report = json.loads((Path(out["run_dir"]) / "distribute.json").read_text())
    assert report["precision"] == "mixed_bfloat16" and report["xla"] is False
    import keras

    # The run's policy does not leak into the caller's process.
    assert keras.mixed_precision.global_policy().name == "float32"

    # Exports compute in float32 whatever the training precision: the SavedModel matches the
    # run (--verify) and TFLite, which has no bfloat16 kernels, converts.
    exported = zoo_json("export", out["run_dir"], "--verify")
    assert exported["verify"]["serving_default"]["ok"]
    lite = zoo_json(
        "export", out["run_dir"], "--format", "tflite", "--quantize", "none", "--eval-examples", "8"
    )
    assert lite["tflite_bytes"] > 0


class _FakeTPUStrategy:  # resolve_precision only looks at the strategy's type name
    pass


@pytest.mark.parametrize(
    "amx,gpu,strategy,modality,expected",
    [
        (True, None, None, "image", "mixed_bfloat16"),  # AMX-BF16 CPU: image models in bf16
        (True, None, None, "text", "float32"),  # ... text models gain nothing there
        (False, None, None, "image", "float32"),  # older CPUs
        (False, (9, 0), None, "text", "mixed_bfloat16"),  # H100
        (False, (7, 0), None, "image", "mixed_float16"),  # V100
        (False, (6, 1), None, "image", "float32"),  # Pascal
        (False, None, _FakeTPUStrategy(), "text", "mixed_bfloat16"),
    ],
)
def test_auto_precision_follows_the_hardware(amx, gpu, strategy, modality, expected, monkeypatch):
    from zoo.training import distribute

    monkeypatch.setattr(distribute, "cpu_has_bf16_matmul", lambda: amx)
    monkeypatch.setattr(distribute, "_gpu_capability", lambda: gpu)
    monkeypatch.setattr(distribute, "_devices", lambda kind: ["/gpu:0"] if gpu else ["/cpu:0"])
    assert distribute.resolve_precision("auto", strategy, modality) == expected
    assert distribute.resolve_precision("float32", strategy, modality) == "float32"


@pytest.mark.parametrize(
    "policy,bf16_cpu,gpu,strategy,noted",
    [
        ("mixed_bfloat16", False, False, None, True),  # emulated: slower than float32
        ("mixed_bfloat16", True, False, None, False),  # AMX- or AVX512-BF16
        ("float32", False, False, None, False),
        ("mixed_bfloat16", False, True, None, False),  # a GPU runs it
        ("mixed_bfloat16", False, False, _FakeTPUStrategy(), False),
    ],
)
def test_bf16_on_a_cpu_without_bf16_instructions_is_noted(
    policy, bf16_cpu, gpu, strategy, noted, monkeypatch
):
    from zoo.training import distribute

    monkeypatch.setattr(distribute, "cpu_has_bf16_matmul", lambda: bf16_cpu)
    monkeypatch.setattr(distribute, "_devices", lambda kind: ["/gpu:0"] if gpu else [])
    assert (distribute.precision_note(policy, strategy) is not None) is noted


@pytest.mark.parametrize("amx,expected", [(True, "mixed_bfloat16"), (False, "float32")])
def test_auto_precision_is_reported_per_run(amx, expected, mock_tfds, workdir, monkeypatch):
    from zoo.training import distribute

    monkeypatch.setattr(distribute, "cpu_has_bf16_matmul", lambda: amx)
    zoo_json("train", "cnn", "-d", "mnist", "--smoke", "--data-dir", "tfds", "--run-name", "r")
    assert json.loads(Path("runs/r/config.json").read_text())["precision"] == "auto"
    assert json.loads(Path("runs/r/distribute.json").read_text())["precision"] == expected


@pytest.mark.parametrize(
    "flags,expected",
    [
        ("fpu avx512f avx512_bf16 avx512_vnni", True),  # AMD Zen 4 and later
        ("fpu avx512f amx_bf16 amx_tile", True),  # Intel Sapphire Rapids and later
        ("fpu avx2 avx512f avx512_vnni", False),
        ("fpu avx512_bf16x", False),  # whole flags only
    ],
)
def test_bf16_matmul_cpus_are_read_from_cpuinfo(flags, expected, tmp_path):
    from zoo.training import distribute

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert distribute.cpu_has_bf16_matmul(str(cpuinfo)) is expected
    assert distribute.cpu_has_bf16_matmul(str(tmp_path / "missing")) is False


def test_a_resumed_run_keeps_the_precision_auto_picked_at_its_start(
    mock_tfds, workdir, monkeypatch
):
    """Moved to (or upgraded onto) a bf16 CPU mid-run, a resume does not switch precision:
    it would no longer see what an uninterrupted run sees."""
    from zoo.training import distribute

    monkeypatch.setattr(distribute, "cpu_has_bf16_matmul", lambda: False)
    args = ("train", "cnn", "-d", "mnist", "--smoke", "--data-dir", "tfds", "--run-name", "r")
    zoo_json(*args, "--epochs", "2")
    history = Path("runs/r/history.csv")
    history.write_text("\n".join(history.read_text().splitlines()[:2]) + "\n")  # 1 epoch done
    record = json.loads(Path("runs/r/run.json").read_text())
    Path("runs/r/run.json").write_text(json.dumps({**record, "status": "interrupted"}))
    monkeypatch.setattr(distribute, "cpu_has_bf16_matmul", lambda: True)
    zoo_json("resume", "runs/r")
    assert json.loads(Path("runs/r/distribute.json").read_text())["precision"] == "float32"
