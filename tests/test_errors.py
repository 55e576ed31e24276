"""Every user mistake: exit code 2, one line naming problem and fix, no traceback, and nothing
written or changed."""

from pathlib import Path

import pytest

from helpers import assert_one_line_error, tree, zoo


@pytest.fixture
def trained(mock_tfds, workdir):
    zoo("train", "cnn", "-d", "mnist", "--smoke", "--run-name", "done", "--data-dir", "tfds")
    zoo("export", "runs/done")
    return workdir


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
    (["train", "--bogus-option"], "No such option"),
]


@pytest.mark.parametrize("args,needle", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_usage_errors(args, needle, trained):
    Path("notes.txt").write_text("not an image")
    before = tree(trained)
    result = zoo(*args, ok=False)
    assert_one_line_error(result, needle)
    assert tree(trained) == before, "an error case wrote or changed files"


def test_debug_shows_traceback(mock_tfds, workdir):
    from click.testing import CliRunner

    from cli import main

    result = CliRunner().invoke(main, ["--debug", "train", "nope", "-d", "mnist"])
    assert result.exit_code != 0 and result.exception is not None
