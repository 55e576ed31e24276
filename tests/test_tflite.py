"""TFLite export on mocked TFDS: every quantization mode converts, runs in the interpreter, gives
probabilities, and shrinks the file in the expected order; eval and predict take .tflite files."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, tiny_image, train_smoke, zoo, zoo_json


@pytest.fixture
def cnn_run(mock_tfds, workdir):
    train_smoke("cnn", "cifar10", "c")
    return workdir / "runs" / "c"


def tflite_export(run, mode: str, *extra: str) -> dict:
    return zoo_json("export", str(run), "--format", "tflite", "--quantize", mode, *extra)


def test_cnn_every_quantization_mode(cnn_run):
    sizes = {}
    for mode in ("none", "dynamic", "float16", "int8"):
        out = tflite_export(cnn_run, mode, "--eval-examples", "16", "--calibration-examples", "8")
        folder = Path(out["export_dir"])
        assert folder == Path(f"saved_models/c/tflite-{mode}")
        assert {"model.tflite", "labels.txt", "zoo.json", "report.json"} <= {
            p.name for p in folder.iterdir()
        }
        report = json.loads((folder / "report.json").read_text())
        assert report["examples"] == 16 and 0 <= report["agreement"] <= 1
        if mode == "none":
            assert report["agreement"] == 1.0  # the float file is the same model
        sizes[mode] = out["tflite_bytes"]
        res = zoo_json("eval", str(folder / "model.tflite"))
        assert res["kind"] == "tflite" and len(res["confusion_matrix"]) == 10
    assert sizes["int8"] < sizes["float16"] < sizes["none"]
    assert sizes["dynamic"] < sizes["none"]


def test_int8_io_and_predict(cnn_run):
    out = tflite_export(
        cnn_run,
        "int8",
        "--int8-io",
        "--name",
        "io",
        "--eval-examples",
        "8",
        "--calibration-examples",
        "8",
    )
    from zoo.export.litert import Interpreter

    lite = Interpreter(out["file"])
    assert lite.input["dtype"] == np.uint8 and lite.output["dtype"] == np.uint8
    import tensorflow as tf

    Path("x.png").write_bytes(tf.io.encode_png(tiny_image(32, 32, 3)).numpy())
    pred = zoo_json("predict", out["export_dir"], "x.png", "-k", "10")
    probs = [t["probability"] for t in pred[0]["top"]]
    assert len(probs) == 10 and sum(probs) == pytest.approx(1.0, abs=0.02)


def test_lstm_modes_and_int8_refusal(mock_tfds, workdir):
    train_smoke("lstm", "imdb_reviews", "l", "--max-tokens", "300", "--sequence-length", "24")
    sizes = {}
    for mode in ("none", "dynamic", "float16"):
        out = tflite_export("runs/l", mode, "--eval-examples", "8")
        sizes[mode] = out["tflite_bytes"]
        assert (Path(out["export_dir"]) / "preprocessor" / "vocabulary.txt").exists()
    assert sizes["dynamic"] < sizes["float16"] < sizes["none"]
    pred = zoo_json("predict", "saved_models/l/tflite-dynamic", "what a film", "-k", "2")
    assert sum(t["probability"] for t in pred[0]["top"]) == pytest.approx(1.0, abs=1e-4)
    refused = zoo("export", "runs/l", "--format", "tflite", "--quantize", "int8", ok=False)
    assert_one_line_error(refused, "recurrent layer", "dynamic")
    again = zoo("export", "runs/l", "--format", "tflite", "--quantize", "none", ok=False)
    assert_one_line_error(again, "already exists")
