"""`zoo benchmark RUN --serving`: every runtime timed on the run's test examples, side by side,
as ratios to the compiled Keras call; a runtime a converter refuses is left out with the reason;
bad input is one line. (Timings themselves are measured in scripts/bench_serving.py.)"""

import pytest
from helpers import assert_one_line_error, smoke_args, zoo, zoo_json

from zoo.export import bench


def test_every_runtime_is_timed_against_keras(mock_tfds, workdir):
    zoo(*smoke_args("cnn", "cifar10", "r"))
    out = zoo_json("benchmark", "runs/r", "--serving", "--rounds", "1", "--bulk", "40")
    assert out["model"] == "cnn" and out["dataset"] == "cifar10" and out["left_out"] == []
    rows = out["runtimes"]
    assert list(rows) == list(bench.RUNTIMES)
    keras = rows["keras"]
    assert "compiled call" in keras["note"]
    for name, row in rows.items():
        assert row["batch1_p50_ms"] > 0 and row["batch1_p99_ms"] >= row["batch1_p50_ms"], name
        assert row["batch64_examples_per_s"] > 0 and row["bulk_examples_per_s"] > 0, name
        assert row["bulk_batch"] in bench.BULK_BATCHES
        assert row["bulk_vs_keras"] == pytest.approx(
            row["bulk_examples_per_s"] / keras["bulk_examples_per_s"]
        )
        assert row["p50_vs_keras"] == pytest.approx(row["batch1_p50_ms"] / keras["batch1_p50_ms"])
    assert keras["bulk_vs_keras"] == 1.0


def test_a_refused_runtime_is_left_out_with_the_reason(mock_tfds, workdir):
    zoo(*smoke_args("lstm", "imdb_reviews", "t", "--max-tokens", "300", "--sequence-length", "24"))
    result = zoo("benchmark", "runs/t", "--serving", "--runtimes", "savedmodel,openvino",
                 "--rounds", "1", "--bulk", "16")  # fmt: skip
    assert "openvino left out" in result.output and "TensorList" in result.output
    out = zoo_json("benchmark", "runs/t", "--serving", "--runtimes", "savedmodel,openvino",
                   "--rounds", "1", "--bulk", "16")  # fmt: skip
    assert list(out["runtimes"]) == ["keras", "savedmodel"] and out["left_out"] == ["openvino"]
    assert "serving_default" in out["runtimes"]["savedmodel"]["note"]  # strings, tokenized inside


@pytest.mark.parametrize(
    "args, words",
    [
        (("--runtimes", "keras,torch"), ("unknown runtime", "torch")),
        (("--rounds", "0"), ("--rounds",)),
    ],
)
def test_bad_input_is_one_line(args, words, mock_tfds, workdir):
    zoo(*smoke_args("mlp", "mnist", "m"))
    result = zoo("benchmark", "runs/m", "--serving", *args, ok=False)
    assert_one_line_error(result, *words)


def test_a_missing_run_is_one_line(workdir):
    result = zoo("benchmark", "runs/nothing", "--serving", ok=False)
    assert_one_line_error(result, "runs/nothing")
