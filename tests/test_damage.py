"""Bad values and damaged files: one line, exit 2, no traceback, and the files as they were
(or only the intended change); `zoo runs` lists every run, marking unreadable ones."""

import errno
import os
import shutil
from pathlib import Path

import pytest
from helpers import (
    assert_one_line_error,
    built_once,
    smoke_args,
    train_smoke,
    tree,
    zoo,
    zoo_json,
)


def _populate(workdir):
    train_smoke("cnn", "mnist", "base")
    train_smoke("lstm", "imdb_reviews", "text", "--max-tokens", "50", "--sequence-length", "8")
    zoo("export", "runs/base")
    zoo("export", "runs/base", "--format", "tflite", "--quantize", "none", "--eval-examples", "4")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Runs and exports built once; each case damages its own copy."""
    return built_once(tmp_path_factory, "damage", _populate)


@pytest.fixture
def here(made, mock_tfds, monkeypatch):
    monkeypatch.chdir(made)
    return made


VALUES = [
    (["--set", "model.dropout=-0.5"], "model.dropout must be in [0.0, 1.0), got -0.5"),
    (["--set", "model.filters=[32, 0]"], "model.filters must be in [1, 16384], got 0"),
    (["--split", "train[50%:10%]"], "selects no examples"),
    (["--split", ""], "--split is empty"),
    (["--split", "test"], "overlaps the test split 'test'"),
    (["--split", "train"], "overlaps the validation split"),
    (["--batch-size", "99999999999999999999"], "batch_size must be in [1, 1048576]"),
    (["--seed", "-1"], "seed must be in [0, 2147483647], got -1"),
    (["--warmup-epochs", "-1"], "warmup_epochs must be in"),
    (["--early-stopping", "-3"], "early_stopping must be in"),
    (["--epochs", "0"], "epochs must be in [1, 100000]"),
]


@pytest.mark.parametrize("args,needle", VALUES, ids=[" ".join(a) for a, _ in VALUES])
def test_bad_values(args, needle, here):
    before = tree(here)
    result = zoo(*smoke_args("cnn", "mnist", "new"), *args, ok=False)
    assert_one_line_error(result, needle)
    assert tree(here) == before and not Path("runs/new").exists()


def _copy(name: str, source: str = "base") -> Path:
    target = Path("runs") / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(Path("runs") / source, target)
    return target


def _damage_run(name, file, content, source="base") -> Path:
    run = _copy(name, source)
    path = run / file
    path.write_text(content) if isinstance(content, str) else path.write_bytes(content)
    return run


RUN_DAMAGE = [
    ("config.json", "[1, 2]", "config.json is corrupted (expected an object)"),
    ("config.json", '{"model": ', "config.json is corrupted (not valid JSON)"),
    ("dataset.json", '{"name": "mnist"}', "dataset.json is corrupted (missing fields"),
    ("dataset.json", "", "dataset.json is corrupted (not valid JSON)"),
    ("run.json", '{"status": ', "run.json is corrupted"),
]


@pytest.mark.parametrize(
    "file,content,needle", RUN_DAMAGE, ids=[f"{f}={c}" for f, c, _ in RUN_DAMAGE]
)
def test_damaged_run_files(file, content, needle, here):
    run = _damage_run("hurt", file, content)
    before = tree(here)
    for command in (["eval", str(run)], ["export", str(run)], ["predict", str(run), "x.png"]):
        assert_one_line_error(zoo(*command, ok=False), needle)
    assert tree(here) == before


def test_damaged_vocabulary(here):
    run = _damage_run("hurt_text", "preprocessor/text_vectorizer.json", "{}", source="text")
    before = tree(here)
    assert_one_line_error(zoo("eval", str(run), ok=False), "text_vectorizer.json", "retrain")
    assert tree(here) == before


def test_runs_lists_every_run_marking_the_unreadable(here):
    _damage_run("r_config", "config.json", "[1, 2]")
    _damage_run("r_metrics", "metrics.json", '{"test_accuracy": 0.5')
    _damage_run("r_record", "run.json", "{")
    history = _copy("r_history") / "history.csv"
    history.write_text(history.read_text() + "x,not-a-number,,,,,\n")
    rows = {r["name"]: r for r in zoo_json("runs")}
    assert rows["base"]["status"] == "finished"
    assert rows["r_history"]["status"] == "finished"  # a damaged row is no value, not an error
    for name, file in (
        ("r_config", "config.json"),
        ("r_metrics", "metrics.json"),
        ("r_record", "run.json"),
    ):
        assert rows[name]["status"] == "corrupt" and file in rows[name]["error"], rows[name]
    table = zoo("runs").output
    assert "corrupt" in table and "base" in table
    for name in ("r_config", "r_metrics", "r_record", "r_history"):
        shutil.rmtree(Path("runs") / name)


def _refused(here, args, *needles) -> None:
    """The command fails in one line and writes nothing."""
    before = tree(here)
    assert_one_line_error(zoo(*args, ok=False), *needles)
    assert tree(here) == before


def test_damaged_export_metadata(here):
    export = Path("saved_models/bad/1")
    shutil.rmtree(export.parent, ignore_errors=True)
    shutil.copytree("saved_models/base/1", export)
    meta = export / "assets.extra" / "zoo.json"
    meta.write_text("{oops")
    _refused(here, ["eval", str(export)], "zoo.json is corrupted", "re-export")
    meta.write_text('{"dataset": {"name": "mnist"}}')
    _refused(here, ["predict", str(export), "x.png"], "missing fields")
    lite = Path("saved_models/badlite")
    shutil.rmtree(lite, ignore_errors=True)
    shutil.copytree("saved_models/base/tflite-none", lite)
    (lite / "zoo.json").write_text("[")
    _refused(here, ["eval", str(lite)], "zoo.json is corrupted")
    shutil.rmtree(export.parent)
    shutil.rmtree(lite)


def test_export_to_a_file_or_a_full_disk_leaves_nothing(here, monkeypatch):
    before = tree(here)
    result = zoo("export", "runs/base", "--output", "runs/base/model.keras", ok=False)
    assert_one_line_error(result, "is a file, not a folder")
    assert tree(here) == before

    import tensorflow as tf

    from zoo.export import serving

    def full(self, path):
        Path(path, "half").write_text("x")
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(serving.ServingModule, "write", full)
    result = zoo("export", "runs/base", "--output", "full_exports", ok=False)
    assert_one_line_error(result, "No space left on device", "is the disk full?")
    assert not Path("full_exports").exists(), "no partial version, no empty folder"


def test_stale_temporary_exports_are_cleaned(here):
    stale = Path("saved_models/base/.9.tmp-999999999-abc")  # a writer that no longer exists
    live = Path(f"saved_models/base/.8.tmp-{os.getpid()}-abc")  # this process: still writing
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_text("half")
    exported = zoo_json("export", "runs/base")
    assert not stale.exists() and live.exists()
    shutil.rmtree(live)
    shutil.rmtree(exported["export_dir"])


def test_dangling_symlink_as_run_name(here):
    link = Path("runs/dangling")
    link.symlink_to(here / "nowhere")
    before = tree(here)
    result = zoo(*smoke_args("cnn", "mnist", "dangling"), ok=False)
    assert_one_line_error(result, "is not a directory (a file or a broken link)")
    assert tree(here) == before and link.is_symlink()
    link.unlink()


def test_disk_full_error_number_is_named():
    from zoo.runs import rundir

    error = rundir.disk_error(Path("x"), OSError(errno.ENOSPC, "No space left on device"))
    assert "is the disk full?" in str(error)


def test_predict_help_warns_about_savedmodels():
    out = zoo("predict", "--help").output
    assert "runs the program inside" in out and "safe_mode" in out
