"""Runs listing, dataset catalog, doctor, plots, --json keys and the reproducibility record."""

import json
import socket
from pathlib import Path

import pytest
from helpers import train_smoke, zoo, zoo_json


@pytest.fixture
def two_runs(mock_tfds, workdir):
    train_smoke("cnn", "mnist", "a")
    train_smoke("mlp", "mnist", "b", "--epochs", "2")
    return workdir


def test_runs_listing_sorting_and_show(two_runs):
    rows = zoo_json("runs")
    assert [r["name"] for r in rows] == ["a", "b"]
    assert {
        "name",
        "path",
        "model",
        "dataset",
        "status",
        "epochs_done",
        "epochs",
        "best_val_accuracy",
        "test_accuracy",
        "started",
        "wall_time_s",
    } <= set(rows[0])
    assert rows[1]["epochs_done"] == 2 and rows[1]["status"] == "finished"
    by_model = zoo_json("runs", "--sort", "-model")
    assert [r["model"] for r in by_model] == ["mlp", "cnn"]
    assert [r["name"] for r in zoo_json("runs", "b*")] == ["b"]
    shown = zoo_json("runs", "show", "runs/a")
    assert shown["config"]["model"] == "cnn"
    record = shown["record"]
    for key in (
        "command",
        "tensorflow",
        "keras",
        "tensorflow_datasets",
        "python",
        "devices",
        "git_commit",
        "started",
        "finished",
    ):
        assert key in record, key
    text = zoo("runs").output
    assert "a" in text and "finished" in text


def test_run_writes_plots(two_runs):
    plots = Path("runs/a/plots")
    assert (plots / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (plots / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    zoo("export", "runs/a")
    out = zoo_json("eval", "saved_models/a/1", "--plot", "p")
    assert out["plots"] == ["p/confusion.png"]
    assert Path("p/confusion.png").stat().st_size > 1000


def test_interrupted_status(two_runs):
    record = json.loads(Path("runs/b/run.json").read_text())
    record.update(status="running", pid=2**22 + 999)
    Path("runs/b/run.json").write_text(json.dumps(record))
    assert {r["name"]: r["status"] for r in zoo_json("runs")}["b"] == "interrupted"


def test_datasets_catalog_and_info(tmp_path):
    rows = zoo_json("datasets", "mnist", "--data-dir", str(tmp_path))
    assert rows == [
        {
            "name": "mnist",
            "modality": "image",
            "input": "image",
            "label": "label",
            "classes": 10,
            "prepared": False,
            "splits": {},
            "version": rows[0]["version"],
        }
    ]
    assert zoo_json("datasets", "coco*", "--data-dir", str(tmp_path)) == []  # detection
    text = {r["name"] for r in zoo_json("datasets", "imdb*", "--data-dir", str(tmp_path))}
    assert "imdb_reviews/plain_text" in text or "imdb_reviews" in text
    info = zoo_json("datasets", "info", "ag_news_subset", "--data-dir", str(tmp_path))
    assert info["modality"] == "text" and info["input_key"] == "description"
    assert info["num_classes"] == 4 and info["prepared"] is False


def test_doctor_reports_without_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("zoo doctor tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    (tmp_path / "mnist" / "3.0.1").mkdir(parents=True)
    (tmp_path / "mnist" / "3.0.1" / "dataset_info.json").write_text("{}")
    report = zoo_json("doctor", "--data-dir", str(tmp_path))
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["prepared_datasets"]["value"] == ["mnist"]
    assert {"python", "tensorflow", "keras", "tensorflow_datasets", "devices", "data_dir"} <= set(
        checks
    )
    assert set(checks["precision_auto"]["value"]) == {"image", "text"}
    assert report["ok"] is True
    assert "ready" in zoo("doctor", "--data-dir", str(tmp_path)).output


def test_print_config_shows_resolved_values(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 4\n")
    out = zoo_json(
        "train",
        "resnet",
        "-d",
        "cifar10",
        "--config",
        str(cfg),
        "--set",
        "model.dropout=0.2",
        "--lr",
        "0.05",
        "--print-config",
    )
    assert (out["model"], out["epochs"], out["learning_rate"]) == ("resnet20", 4, 0.05)
    assert out["model_config"] == {"dropout": 0.2} and out["optimizer"] == "sgd"


def test_models_json_and_info():
    rows = zoo_json("models", "--modality", "image")
    assert {r["name"] for r in rows} >= {"mlp", "cnn", "resnet20"}
    assert {
        "name",
        "family",
        "modality",
        "modalities",
        "parameters",
        "flops_per_example",
        "description",
        "default",
        "tasks",
        "presets",
    } == set(rows[0])
    assert {r["name"]: r["parameters"] for r in rows}["cnn"] == 122_570
    info = zoo_json("models", "info", "cnn")
    assert info["parameters"] == 122_570
    assert info["flops_per_example"] > 2 * 122_570  # convs reuse their weights
    assert info["recipe"]["schedule"] == "cosine"


def test_benchmark_json():
    out = zoo_json("benchmark", "mlp", "--steps", "3", "--warmup", "1", "--batch-size", "16")
    assert out["model"] == "mlp" and out["batch_size"] == 16 and out["steps"] == 3
    assert out["train_examples_per_s"] > 0 and out["infer_examples_per_s"] > 0
    assert out["host_peak_rss_mb"] > 0 and out["strategy"]["replicas"] == 1
    bad = zoo("benchmark", "mlp", "--precision", "fp8", ok=False)
    assert bad.exit_code == 2 and "unknown precision" in bad.stderr


def test_progress_lines_in_logs():
    """Without a terminal (nohup, batch jobs) long epochs print a progress line every
    log_seconds: step, elapsed, time left and running metrics; a terminal gets the live bar."""
    import io

    from rich.console import Console

    from zoo.runs.progress import RichProgress

    now = [0.0]
    out = io.StringIO()
    cb = RichProgress(Console(file=out, width=200), 2, 100, log_seconds=60, clock=lambda: now[0])
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    for step in range(100):
        now[0] += 1.5  # 150 s per epoch: lines at 60 s and 120 s
        cb.on_train_batch_end(step, {"loss": 2.0 - step / 100, "accuracy": 0.5})
    cb.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5, "val_accuracy": 0.6})
    cb.on_train_end()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("epoch 1/2  step 40/100  60s  about 90s left  loss 1.6100")
    assert lines[1].startswith("epoch 1/2  step 80/100  120s  about 30s left  loss 1.2100")
    assert lines[2].startswith("epoch 1/2  150.0s  loss 1.0000  accuracy 0.5000  val_accuracy")
    assert len(lines) == 3

    terminal = io.StringIO()
    cb = RichProgress(Console(file=terminal, force_terminal=True), 1, 100, clock=lambda: now[0])
    assert not cb.logging  # the live bar draws instead
