"""Every user mistake: exit code 2, one line naming problem and fix, no traceback, and nothing
written or changed."""

import shutil
from pathlib import Path

import pytest
from helpers import assert_one_line_error, built_once, train_smoke, tree, zoo


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """Built once for the module: the error cases below must not change it (checked)."""
    return built_once(tmp_path_factory, "errors", _populate)


@pytest.fixture
def trained(trained_dir, mock_tfds, monkeypatch):
    monkeypatch.chdir(trained_dir)
    return trained_dir


def _populate(workdir):
    train_smoke("cnn", "mnist", "done")
    train_smoke("lstm", "imdb_reviews", "text", "--max-tokens", "100", "--sequence-length", "8")
    zoo("export", "runs/done")
    half = workdir / "runs" / "half"
    half.mkdir()
    shutil.copy(workdir / "runs" / "done" / "config.json", half / "config.json")
    shutil.copytree(workdir / "runs" / "done", workdir / "runs" / "broken")
    (workdir / "runs" / "broken" / "model.keras").write_bytes(b"not a keras file")
    (workdir / "runs" / "junk").mkdir()
    (workdir / "runs" / "junk" / "notes.md").write_text("mine")
    (workdir / "notes.txt").write_text("not an image")


CASES = [
    (["train", "resnet02", "-d", "mnist"], "unknown model 'resnet02'"),
    (["train", "cnn", "-d", "mnsit"], "unknown dataset 'mnsit'"),
    (["train", "cnn", "-d", "coco"], "detection"),
    (["train", "cnn", "-d", "imdb_reviews"], "text data"),
    (["train", "cnn", "-d", "mnist", "--optimizer", "adma"], "did you mean adam"),
    (["train", "cnn", "-d", "mnist", "--batch-size", "0"], "batch_size"),
    (["train", "cnn", "-d", "mnist", "--set", "model.dropuot=1"], "did you mean dropout"),
    (["train", "cnn", "-d", "mnist", "--strategy", "tpu"], "--tpu"),
    (["train", "cnn", "-d", "mnist", "--precision", "half"], "precision"),
    (["train", "cnn", "-d", "mnist", "--run-name", "done"], "already finished"),
    (["train", "cnn", "-d", "mnist", "--run-name", "done", "--epochs", "3"], "already finished"),
    (["train", "cnn"], "--dataset"),
    (["eval", "runs/missing"], "does not exist"),
    (["eval", "runs"], "neither a run directory"),
    (["export", "runs/missing"], "does not exist"),
    (["export", "runs/done", "--version", "1"], "already exists"),
    (["predict", "runs/done", "nothing.png"], "does not exist"),
    (["predict", "runs/done", "notes.txt"], "not an image"),
    (["models", "info", "vit_huge"], "unknown model"),
    (["train", "cnn", "-d", "mnist", "--no-download"], "zoo data prepare mnist"),
    (
        ["train", "cnn", "-d", "mnist", "--strategy", "mirrored", "--batch-size", "3"],
        "does not split evenly",
    ),
    (["train", "cnn", "-d", "mnist", "--image-size", "12"], "at least 18x18"),
    (["train", "cnn", "-d", "mnist", "--config", "missing.yaml"], "does not exist"),
    (["train", "cnn", "-d", "mnist", "--set", "epochs=many"], "must be an integer"),
    (["train", "cnn", "-d", "mnist", "--run-name", "../escape"], "run name"),
    (["train", "cnn", "-d", "mnist", "--run-name", "junk"], "not a run directory"),
    (["eval", "runs/half"], "no trained model yet"),
    (["eval", "runs/broken"], "corrupted"),
    (["export", "runs/half"], "no trained model yet"),
    (["predict", "runs/text", "   "], "empty text"),
    (["predict", "runs/text", "caf\udce9"], "not valid UTF-8"),
    (["predict", "runs/done", "notes.txt", "--top-k", "0"], "--top-k"),
    (["export", "runs/done", "--format", "pytorch"], "--format"),
    (["export", "runs/done", "--quantize", "int8"], "--format tflite"),
    (["runs", "--sort", "speed"], "cannot sort"),
    (["eval", "runs/text", "--tta", "flip"], "mirrors images"),
    (["eval", "runs/done", "--tta", "rotate"], "--tta"),
    (["train", "--bogus-option"], "No such option"),
]


@pytest.mark.parametrize("args,needle", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_usage_errors(args, needle, trained):
    before = tree(trained)
    result = zoo(*args, ok=False)
    assert_one_line_error(result, needle)
    assert tree(trained) == before, "an error case wrote or changed files"


def test_full_disk_is_one_line(trained, monkeypatch):
    """Writing JSON on a full disk gives the clear error, and leaves no temporary file."""
    import errno

    from zoo.runs import rundir

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(rundir.ZooError, match="disk full"):
        rundir.write_json(trained / "x.json", {"a": 1})
    assert not list(trained.glob("x.json*"))


def test_debug_shows_traceback(mock_tfds, workdir):
    from click.testing import CliRunner

    from cli import main

    result = CliRunner().invoke(main, ["--debug", "train", "nope", "-d", "mnist"])
    assert result.exit_code != 0 and result.exception is not None
