"""The whole image path through the CLI on mocked TFDS: train --smoke -> eval -> export --verify
-> reload -> serve PNG bytes -> predict, for an RGB and a grayscale dataset."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_image, zoo, zoo_json


@pytest.mark.parametrize("dataset,shape", [("cifar10", (32, 32, 3)), ("mnist", (28, 28, 1))])
def test_train_eval_export_serve_predict(dataset, shape, mock_tfds, workdir):
    summary = zoo_json(
        "train",
        "cnn",
        "--dataset",
        dataset,
        "--smoke",
        "--run-name",
        "r",
        "--data-dir",
        workdir / "tfds",
    )
    run = Path(summary["run_dir"])
    for name in (
        "config.json",
        "dataset.json",
        "run.json",
        "history.csv",
        "metrics.json",
        "model.keras",
        "distribute.json",
    ):
        assert (run / name).exists(), name
    assert list((run / "logs").rglob("*tfevents*")), "TensorBoard logs"
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert json.loads((run / "dataset.json").read_text())["input_shape"] == list(shape)

    report = zoo_json("eval", str(run))
    assert report["examples"] > 0 and len(report["confusion_matrix"]) == 10
    assert {"loss", "accuracy", "top5_accuracy", "per_class", "macro_f1"} <= set(report)
    assert sum(map(sum, report["confusion_matrix"])) == report["examples"]

    exported = zoo_json("export", str(run), "--verify")
    export_dir = Path(exported["export_dir"])
    assert export_dir == Path("saved_models/r/1")
    assert all(c["ok"] for c in exported["verify"].values())
    assert (export_dir / "assets" / "labels.txt").read_text().splitlines()[0] in ("airplane", "0")

    # A client sending PNG bytes gets the same answer as the Keras model behind the run.
    loaded = tf.saved_model.load(str(export_dir))
    image = tiny_image(*shape)
    png = tf.io.encode_png(image).numpy()
    served = loaded.signatures["serving_default"](image_bytes=tf.constant([png, png]))
    assert served["probabilities"].shape == (2, 10)
    np.testing.assert_allclose(served["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)
    assert served["class_name"].dtype == tf.string

    Path("x.png").write_bytes(png)
    from_run = zoo_json("predict", str(run), "x.png", "-k", "3")
    from_export = zoo_json("predict", "saved_models/r", "x.png", "-k", "3")
    assert [t["class_id"] for t in from_run[0]["top"]] == [
        t["class_id"] for t in from_export[0]["top"]
    ]
    np.testing.assert_allclose(
        from_export[0]["top"][0]["probability"], served["probabilities"].numpy()[0].max(), rtol=1e-5
    )

    again = zoo_json("export", str(run))  # next free version, the first is untouched
    assert again["version"] == 2
    eval_export = zoo_json("eval", str(export_dir))
    assert eval_export["examples"] == report["examples"]
    assert eval_export["accuracy"] == pytest.approx(report["accuracy"])
    # Flip test-time augmentation works on raw images, so the run and its export agree on it too.
    flipped = zoo_json("eval", str(run), "--tta", "flip")
    assert (report["tta"], flipped["tta"]) == ("none", "flip")
    assert flipped["examples"] == report["examples"]
    flipped_export = zoo_json("eval", str(export_dir), "--tta", "flip")
    assert flipped_export["loss"] == pytest.approx(flipped["loss"], rel=1e-3)


def test_flip_tta_averages_each_image_with_its_left_right_mirror():
    from zoo.training.evaluation import with_flips

    images = tf.constant(np.arange(2 * 3 * 4).reshape(2, 3, 4, 1), tf.uint8)
    # A "model" that reads the top-left and top-right pixels: a mirror swaps them.
    corners = lambda x: np.stack([x[:, 0, 0, 0], x[:, 0, -1, 0]], axis=1).astype(np.float64)
    np.testing.assert_array_equal(corners(images), [[0, 3], [12, 15]])
    np.testing.assert_array_equal(with_flips(corners)(images), [[1.5, 1.5], [13.5, 13.5]])


def test_rerunning_an_interrupted_run_resumes_it(mock_tfds, workdir):
    args = (
        "train",
        "mlp",
        "--dataset",
        "mnist",
        "--smoke",
        "--epochs",
        "2",
        "--run-name",
        "x",
        "--data-dir",
        str(workdir / "tfds"),
    )
    zoo(*args)
    run = workdir / "runs" / "x"
    record = json.loads((run / "run.json").read_text())
    record["status"] = "running"
    record["pid"] = 2**22 + 12345  # a process that does not exist: the run was killed
    trained = record.pop("trained")  # ... in the middle of training
    assert trained is True
    (run / "run.json").write_text(json.dumps(record))
    (run / "model.keras").unlink()
    other = zoo(*args, "--lr", "0.5", ok=False)
    assert other.exit_code == 2 and "different config (learning_rate)" in other.stderr
    result = zoo(*args)
    assert "resuming at epoch 1" in result.output
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


def test_a_resumed_run_keeps_the_architecture_it_began_with(mock_tfds, workdir):
    """run.json records the whole architecture; a run from before it did resumes, and reproduces,
    with the defaults of its time (ResNetConfig.BEFORE: TF's "same" stride-2 padding)."""
    from zoo.runs import table

    for name, older in (("new", False), ("old", True)):
        args = ("train", "resnet20", "-d", "cifar10", "--smoke", "--epochs", "2",
                "--set", "model.depth=8", "--run-name", name, "--data-dir", workdir / "tfds")  # fmt: skip
        zoo(*args)
        run = workdir / "runs" / name
        record = json.loads((run / "run.json").read_text())
        assert record["architecture"]["stride_padding"] == "symmetric"
        assert record["architecture"]["depth"] == 8
        record.update(status="running", pid=2**22 + 12345)  # killed while training
        record.pop("trained")
        if older:
            record.pop("architecture")
        (run / "run.json").write_text(json.dumps(record))
        (run / "model.keras").unlink()
        assert "resuming at epoch" in zoo(*args).output
        with zipfile.ZipFile(run / "model.keras") as saved:
            layers = json.loads(saved.read("config.json"))["config"]["layers"]
        assert ("stage2_block1_pad" in {layer["name"] for layer in layers}) is not older
        began = json.loads((run / "run.json").read_text())["architecture"]
        assert began["stride_padding"] == ("same" if older else "symmetric")

    commands = {r["run"]: r["command"] for r in table.result_rows(workdir / "runs")}
    assert commands["old"].endswith("--set model.depth=8 --set model.stride_padding=same")
    assert commands["new"].endswith("--set model.depth=8"), commands["new"]


def test_a_fine_tune_builds_its_source_runs_architecture(mock_tfds, workdir):
    """--init-from a run of the same model builds the net the weights were trained in where the
    new run leaves today's defaults (here: a source with TF's stride-2 padding); --set wins."""
    from zoo.runs import table

    def train(name, *extra):
        return zoo("train", "resnet20", "-d", "cifar10", "--smoke", "--set", "model.depth=8",
                   "--run-name", name, "--data-dir", workdir / "tfds", *extra)  # fmt: skip

    def layers(name):
        with zipfile.ZipFile(workdir / "runs" / name / "model.keras") as saved:
            return {
                layer["name"] for layer in json.loads(saved.read("config.json"))["config"]["layers"]
            }

    train("src", "--set", "model.stride_padding=same")
    out = train("ft", "--init-from", "src").output
    assert "model.stride_padding=same as in" in out, out
    assert "stage2_block1_pad" not in layers("ft") and "stage2_block1_pad" not in layers("src")
    record = json.loads((workdir / "runs" / "ft" / "run.json").read_text())
    assert record["architecture"]["stride_padding"] == "same"
    train("mine", "--init-from", "src", "--set", "model.stride_padding=symmetric")
    assert "stage2_block1_pad" in layers("mine")
    commands = {r["run"]: r["command"] for r in table.result_rows(workdir / "runs")}
    assert "--set model.stride_padding=same" in commands["ft"], commands["ft"]
