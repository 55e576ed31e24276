"""ONNX and OpenVINO exports on mocked TFDS: every family converts (or is refused in one line
naming the op), is checked by its own runtime against Keras, and predicts through `zoo predict`
and `zoo eval` like every other format; text ids match the SavedModel's in-graph tokenizer;
versions are never overwritten; a damaged file or a missing package is one line."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_one_line_error, smoke_args, tiny_image, tree, zoo, zoo_json

SMALL_TEXT = ("--max-tokens", "300", "--sequence-length", "24")
CASES = {  # model: (dataset, extra training flags)
    "mlp": ("mnist", ()),
    "cnn": ("cifar10", ()),
    "resnet20": ("cifar10", ()),
    "vit_tiny": ("cifar10", ("--set", "model.num_layers=1")),
    "lstm": ("imdb_reviews", SMALL_TEXT),
    "transformer": ("imdb_reviews", SMALL_TEXT),
    "bert_tiny": ("imdb_reviews", (*SMALL_TEXT, "--set", "model.num_layers=1")),
    "ds_cnn": ("spoken_digit", ("--clip-seconds", "0.25")),
}
# What a converter refuses, and the op the one line names.
REFUSED = {("lstm", "openvino"): "TensorList", ("ds_cnn", "onnx"): "RFFT"}


def _input(model: str, dataset: str, folder: Path) -> list[str]:
    if dataset == "imdb_reviews":
        return ["a moving and wonderful film", "dull"]
    if dataset == "spoken_digit":
        t = np.arange(2000) / 8000
        wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        (folder / "tone.wav").write_bytes(tf.audio.encode_wav(wave[:, None], 8000).numpy())
        return [str(folder / "tone.wav")]
    shape = (28, 28, 1) if dataset == "mnist" else (32, 32, 3)
    (folder / "x.png").write_bytes(tf.io.encode_png(tiny_image(*shape)).numpy())
    return [str(folder / "x.png")]


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
@pytest.mark.parametrize("model", list(CASES))
def test_export_verify_predict(model, fmt, mock_tfds, workdir):
    dataset, extra = CASES[model]
    zoo(*smoke_args(model, dataset, "r", *extra))
    if (model, fmt) in REFUSED:
        result = zoo("export", "runs/r", "--format", fmt, "--verify", ok=False)
        assert_one_line_error(result, REFUSED[(model, fmt)], "--format")
        assert not Path("saved_models/r").exists() or not any(Path("saved_models/r").rglob("*.*"))
        return
    out = zoo_json("export", "runs/r", "--format", fmt, "--verify")
    folder = Path(out["export_dir"])
    assert folder == Path(f"saved_models/r/{fmt}/1")
    check = out["verify"]
    assert check["ok"] and check["max_abs_diff"] <= 1e-4 and check["top1_agreement"] == 1.0
    manifest = json.loads((folder / "zoo-export.json").read_text())
    assert manifest["format"] == fmt and manifest["verify"] == check
    assert manifest["classes"] and manifest["run"].endswith("runs/r")
    for name, digest in manifest["files"].items():
        import hashlib

        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest

    inputs = _input(model, dataset, workdir)
    ours = zoo_json("predict", str(folder), *inputs, "-k", "2")
    run = zoo_json("predict", "runs/r", *inputs, "-k", "2")
    for a, b in zip(ours, run):
        assert a["top"][0]["class_id"] == b["top"][0]["class_id"]
        assert abs(a["top"][0]["probability"] - b["top"][0]["probability"]) < 1e-4
    evaluated = zoo_json("eval", str(folder.parent), "--smoke")  # the format folder: newest
    assert evaluated["kind"] == fmt and 0 <= evaluated["accuracy"] <= 1


def test_text_ids_equal_the_savedmodels_tokenizer(mock_tfds, workdir):
    """The ONNX path tokenizes outside the graph with the exported preprocessor/; the
    SavedModel tokenizes inside its graph: the same texts give the same ids and the same
    probabilities."""
    zoo(*smoke_args("bert_tiny", "imdb_reviews", "b", *SMALL_TEXT, "--set", "model.num_layers=1"))
    onnx_dir = Path(zoo_json("export", "runs/b", "--format", "onnx")["export_dir"])
    sm_dir = Path(zoo_json("export", "runs/b")["export_dir"])
    from zoo.data import preprocess
    from zoo.export.runtimes import client_prep, open_export

    texts = ["A wonderful film!", "the worst, most tedious thing", "zzz unknownword"]
    info, _, fns = open_export("onnx", onnx_dir)
    ids = client_prep(info, preprocess.load_text_encoder(onnx_dir / "preprocessor"))(texts)
    served_ids = preprocess.load_text_encoder(Path("runs/b/preprocessor"))(tf.constant(texts))
    np.testing.assert_array_equal(ids, served_ids.numpy())
    loaded = tf.saved_model.load(str(sm_dir))
    served = loaded.signatures["serving_default"](text=tf.constant(texts))["probabilities"]
    np.testing.assert_allclose(fns["raw"](texts)["probabilities"], served.numpy(), atol=1e-5)


def test_versions_are_never_overwritten_and_damage_is_one_line(mock_tfds, workdir):
    zoo(*smoke_args("cnn", "cifar10", "c"))
    first = zoo_json("export", "runs/c", "--format", "onnx")["export_dir"]
    second = zoo_json("export", "runs/c", "--format", "onnx")["export_dir"]
    assert (first, second) == ("saved_models/c/onnx/1", "saved_models/c/onnx/2")
    before = tree(Path("saved_models"))
    again = zoo("export", "runs/c", "--format", "onnx", "--version", "1", ok=False)
    assert_one_line_error(again, "already exists", "nothing was overwritten")
    assert tree(Path("saved_models")) == before

    Path(second, "model.onnx").write_bytes(b"\x08\x07garbage")
    Path("x.png").write_bytes(tf.io.encode_png(tiny_image(32, 32, 3)).numpy())
    damaged = zoo("predict", second, "x.png", ok=False)
    assert_one_line_error(damaged, "cannot load", "model.onnx", "export the run again")
    Path(second, "zoo-export.json").write_text("{")
    assert_one_line_error(zoo("predict", second, "x.png", ok=False), "zoo-export.json")
    ov = Path(zoo_json("export", "runs/c", "--format", "openvino")["export_dir"])
    (ov / "model.xml").write_text("<net")
    assert_one_line_error(zoo("eval", str(ov), ok=False), "cannot load", "OpenVINO")


def test_a_missing_runtime_names_the_install(mock_tfds, workdir, monkeypatch):
    from zoo.export import onnx, openvino

    zoo(*smoke_args("mlp", "mnist", "m"))
    monkeypatch.setattr(onnx, "missing", lambda: "tf2onnx")
    monkeypatch.setattr(openvino, "missing", lambda: "openvino")
    for fmt in ("onnx", "openvino"):
        result = zoo("export", "runs/m", "--format", fmt, ok=False)
        assert_one_line_error(result, f"pip install 'zoo[{fmt}]'")
    assert not Path("saved_models").exists()


def test_onnx_int8_is_quantized_checked_and_served(mock_tfds, workdir):
    zoo(*smoke_args("cnn", "cifar10", "q"))
    out = zoo_json("export", "runs/q", "--format", "onnx", "--quantize", "int8",
                   "--calibration-examples", "8", "--max-drop", "1")  # fmt: skip
    folder = Path(out["export_dir"])
    assert folder == Path("saved_models/q/onnx-int8/1") and out["quantize"] == "int8"
    check = out["verify"]
    assert check["examples"] > 0 and 0 <= check["int8_accuracy"] <= 1
    assert check["drop"] == pytest.approx(check["float_accuracy"] - check["int8_accuracy"])
    manifest = json.loads((folder / "zoo-export.json").read_text())
    assert manifest["quantize"] == "int8" and manifest["verify"] == check
    import onnx

    graph = onnx.load(str(folder / "model.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # the QDQ graph, not the float one
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8_weights  # the convolutions' kernels are stored as int8
    Path("x.png").write_bytes(tf.io.encode_png(tiny_image(32, 32, 3)).numpy())
    served = zoo_json("predict", str(folder.parent), "x.png")  # the format folder: newest
    top = served[0]["top"][0]
    assert (
        top["class"] in (Path(folder / "labels.txt").read_text().split())
        and 0 <= top["probability"] <= 1
    )
    again = zoo_json("export", "runs/q", "--format", "onnx", "--quantize", "int8",
                     "--calibration-examples", "8", "--max-drop", "1")  # fmt: skip
    assert again["export_dir"].endswith("onnx-int8/2")  # never overwritten
    for bad in (("--format", "openvino", "--quantize", "int8"), ("--format", "onnx",
                "--quantize", "int8", "--max-drop", "2")):  # fmt: skip
        assert_one_line_error(zoo("export", "runs/q", *bad, ok=False), "--")


def test_int8_losing_more_than_max_drop_is_refused(monkeypatch):
    """The check itself: float predictions right, int8 ones wrong -> refused in one line, or
    kept with force."""
    from zoo.errors import ZooError
    from zoo.export import portable

    labels = np.array([0, 1, 2, 1])
    x = np.zeros((4, 2), np.float32)
    monkeypatch.setattr(portable, "_split_inputs", lambda *a: (x, labels))

    class Runtime:
        @staticmethod
        def load(folder):
            return lambda batch: np.eye(3)[(labels + 1) % 3]  # every one wrong

    fn = lambda batch: tf.constant(np.eye(3)[labels])  # every one right
    info = SimpleNamespace(test_split="test")
    with pytest.raises(ZooError, match="loses 100.00 points.*--max-drop 0.01.*--force"):
        portable._int8_check(None, info, fn, Runtime, None, None, 0.01, False)
    kept = portable._int8_check(None, info, fn, Runtime, None, None, 0.01, True)
    assert kept["drop"] == 1.0 and kept["agreement"] == 0.0 and kept["forced"]
