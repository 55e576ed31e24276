"""The results table is made from runs: `zoo runs --format csv|markdown`, and the README's
table generated from results/results.csv."""

import csv
import io
import json
import shlex
import subprocess
import sys

from helpers import PROJECT, train_smoke, zoo

from zoo.models import registry


def test_runs_format_csv_and_markdown(mock_tfds, workdir):
    train_smoke("mlp", "mnist", "a", "--epochs", "2")
    train_smoke("cnn", "mnist", "b")
    rows = list(csv.DictReader(io.StringIO(zoo("runs", "--format", "csv").output)))
    assert [r["run"] for r in rows] == ["a", "b"]
    a = rows[0]
    hardware = json.loads((workdir / "runs/a/distribute.json").read_text())
    assert (a["model"], a["dataset"], a["epochs"]) == ("mlp", "mnist", "2")
    assert a["precision"] == hardware["precision"]  # float32, or bf16 on bf16 CPUs
    metrics = json.loads((workdir / "runs/a/metrics.json").read_text())
    assert float(a["test_accuracy"]) == round(metrics["test_accuracy"], 4)
    assert float(a["wall_time_s"]) == metrics["wall_time_s"] and float(a["examples_per_s"]) > 0
    assert a["device"] and a["zoo"] and a["command"].startswith("zoo")
    table = zoo("runs", "--format", "markdown").output.splitlines()
    assert table[0].startswith("| run | model |") and len(table) == 4


def test_readme_table_matches_results_csv():
    done = subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / "results_table.py"), "check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_command_reproduces_the_run_after_its_recipe_changed(mock_tfds, workdir, monkeypatch):
    """The results row's command resolves to the run's own config, flags and --set keys
    included, also once the family's recipe has moved on."""
    flags = ["--lr", "0.005", "--label-smoothing", "0.2", "--set", "model.dropout=0.1"]
    train_smoke("mlp", "mnist", "a", "--seed", "3", *flags)
    train_smoke("mlp", "mnist", "b")
    b_config = workdir / "runs/b/config.json"  # b was made by a zoo before "keep" existed
    b_config.write_text(
        json.dumps({k: v for k, v in json.loads(b_config.read_text()).items() if k != "keep"})
    )
    recipe = registry.get_spec("mlp").recipe  # the recipe moves on:
    monkeypatch.setitem(recipe, "epochs", 7)
    monkeypatch.setitem(recipe, "model_config", {"dropout": 0.3})  # a key run b lacks
    monkeypatch.setitem(recipe, "keep", "last")  # a key b's zoo did not write: b kept "best"
    a, b = csv.DictReader(io.StringIO(zoo("runs", "--format", "csv").output))
    command = shlex.split(a["command"])
    assert command[:5] == ["zoo", "train", "mlp", "-d", "mnist"] and "--run-name" not in command
    assert {"--epochs", "--smoke", "--seed", "--lr", "model.dropout=0.1"} <= set(command)
    assert "model.dropout=0.0" in shlex.split(b["command"])
    assert "--keep best" in b["command"] and "--keep best" in a["command"]
    for row in (a, b):
        again = zoo(*shlex.split(row["command"])[1:], "--data-dir", "tfds", "--print-config")
        made = json.loads((workdir / "runs" / row["run"] / "config.json").read_text())
        made = {"keep": "best", **made}
        assert _architecture(json.loads(again.output)) == _architecture(made)


def _architecture(config: dict) -> dict:
    """The config with its architecture overrides applied ({} and the defaults are the same)."""
    return {**config, "model_config": registry.model_config("mlp", config["model_config"])}


def test_every_results_row_command_resolves_to_the_row():
    """Each reference row's command, resolved against today's recipes, trains the row's model on
    its dataset for its epochs: a recipe change that a row's command no longer states fails here."""
    rows = list(csv.DictReader(io.StringIO((PROJECT / "results" / "results.csv").read_text())))
    assert rows
    for row in rows:
        command = shlex.split(row["command"])
        assert command[:2] == ["zoo", "train"], row["run"]
        config = json.loads(zoo(*command[1:], "--print-config").output)
        made = (config["model"], config["dataset"], config["epochs"])
        assert made == (row["model"], row["dataset"], int(row["epochs"])), row["run"]


def test_a_sweeps_runs_are_tested_and_become_results_rows(mock_tfds, workdir, monkeypatch):
    """`zoo sweep` runs are results (each tested on its own); `results_table.py add STUDY`
    adds every one as STUDY/trial-NNNN with the `zoo train` command that reproduces it."""
    sys.path.insert(0, str(PROJECT / "scripts"))
    import results_table

    out = json.loads(zoo("sweep", "mlp", "-d", "mnist", "--data-dir", "tfds", "--smoke",
                         "--seeds", "0,1", "--json").stdout)  # fmt: skip
    assert out["states"] == {"complete": 2}
    for t in out["trials"]:
        assert "test_accuracy" in json.loads((workdir / t["run"] / "metrics.json").read_text())
    monkeypatch.setattr(results_table, "CSV", workdir / "results.csv")
    results_table.add([str(workdir / "runs" / out["study"])], "a sweep")
    rows = list(csv.DictReader(io.StringIO((workdir / "results.csv").read_text())))
    assert [r["run"] for r in rows] == [f"{out['study']}/trial-0000", f"{out['study']}/trial-0001"]
    commands = [shlex.split(r["command"]) for r in rows]
    assert all(c[:5] == ["zoo", "train", "mlp", "-d", "mnist"] for c in commands)
    assert sum("--seed" in c for c in commands) == 1  # seed 0 is the default


def test_the_readme_shows_one_row_per_model_and_dataset():
    """Seeds of one command go together (median and range); the default command's runs win
    over other commands; else the command with the best median."""
    sys.path.insert(0, str(PROJECT / "scripts"))
    import results_table

    def row(model, acc, command, wall=100.0):
        return {"model": model, "dataset": "d", "test_accuracy": str(acc), "epochs": "3",
                "wall_time_s": str(wall), "precision": "float32", "command": command}  # fmt: skip

    rows = [
        row("a", 0.90, "zoo train a -d d"),
        row("a", 0.92, "zoo train a -d d --seed 1"),
        row("a", 0.91, "zoo train a -d d --seed 2"),
        row("a", 0.99, "zoo train a -d d --epochs 100"),
        row("b", 0.70, "zoo train b -d d --lr 0.1"),
        row("b", 0.80, "zoo train b -d d --lr 0.2", wall=9000),
    ]
    a, b = results_table.summary_rows(rows)
    assert a["test accuracy (median)"] == "91.00% (90.00-92.00)" and a["seeds"] == "3"
    assert a["command"] == "zoo train a -d d"
    assert b["command"] == "zoo train b -d d --lr 0.2" and b["time per run"] == "2.5 h"
