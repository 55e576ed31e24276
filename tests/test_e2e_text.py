"""The text path through the CLI on mocked TFDS: train --smoke -> eval -> export --verify ->
reload -> serve raw strings -> predict; and the tokenizer's contract."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from helpers import smoke_args, zoo_json


@pytest.mark.parametrize(
    "dataset,model,classes", [("imdb_reviews", "lstm", 2), ("ag_news_subset", "transformer", 4)]
)
def test_text_train_eval_export_serve_predict(dataset, model, classes, mock_tfds, workdir):
    summary = zoo_json(
        *smoke_args(model, dataset, "t", "--max-tokens", "500", "--sequence-length", "32")
    )
    run = Path(summary["run_dir"])
    assert (run / "preprocessor" / "vocabulary.txt").exists()
    report = zoo_json("eval", str(run))
    assert len(report["confusion_matrix"]) == classes

    exported = zoo_json("export", str(run), "--verify")
    assert exported["signatures"] == ["serving_default"]
    assert exported["verify"]["serving_default"]["ok"]
    loaded = tf.saved_model.load(exported["export_dir"])
    texts = tf.constant(["a truly great film", "awful. just awful.", "", "ünïcode ✓ text"])
    served = loaded.signatures["serving_default"](text=texts)
    assert served["probabilities"].shape == (4, classes)
    np.testing.assert_allclose(served["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)

    preds = zoo_json("predict", exported["export_dir"], "a truly great film", "-k", "1")
    assert preds[0]["top"][0]["class_id"] == int(served["class_id"][0])
    from_run = zoo_json("predict", str(run), "a truly great film", "-k", "1")
    assert from_run[0]["top"][0]["probability"] == pytest.approx(
        preds[0]["top"][0]["probability"], abs=1e-5
    )


def _split_dependent(self, split, **kwargs):
    """Train examples speak of 'trainword', test examples of 'testonlyword'."""
    word = "testonlyword" if "test" in str(split) else "trainword"
    texts = [f"{word} common words {i % 7}" for i in range(40)]
    return tf.data.Dataset.from_tensor_slices(
        {"text": texts, "label": np.arange(40, dtype=np.int64) % 2}
    )


def test_vocabulary_comes_from_the_training_split_only(workdir):
    with tfds.testing.mock_data(as_dataset_fn=_split_dependent):
        summary = zoo_json(
            "train", "gru", "-d", "imdb_reviews", "--smoke", "--run-name", "v", "--data-dir", "tfds"
        )
    run = Path(summary["run_dir"])
    vocab = (run / "preprocessor" / "vocabulary.txt").read_text().split()
    assert "trainword" in vocab and "common" in vocab
    assert "testonlyword" not in vocab

    # The exported model answers like the Keras model fed the run's own tokenizer.
    from zoo.data.preprocess import load_vectorizer

    vec = load_vectorizer(run / "preprocessor")
    model = keras.saving.load_model(run / "model.keras", compile=False)
    texts = ["trainword common", "testonlyword words 3", "nothing known here"]
    want = tf.nn.softmax(model(vec(tf.constant(texts)))).numpy()
    exported = zoo_json("export", str(run))
    got = (
        tf.saved_model.load(exported["export_dir"])
        .signatures["serving_default"](text=tf.constant(texts))["probabilities"]
        .numpy()
    )
    np.testing.assert_allclose(got, want, atol=1e-5)
    info = json.loads((run / "dataset.json").read_text())
    assert info["vocab_size"] == len(vocab) + 2  # + padding and [UNK]


def test_unlabeled_test_split_is_never_evaluated():
    from zoo.data.datasets import _choose_splits

    notes = []
    train, val, test = _choose_splits(
        {"train": 100, "validation": 10, "test": 20}, 0.1, notes, {"test"}
    )
    assert (train, val, test) == ("train[:90]", "train[90:]", "validation")
    assert any("unlabeled" in n for n in notes)
    train, val, test = _choose_splits(
        {"train": 100, "test": 20, "unsupervised": 50}, 0.1, [], {"unsupervised"}
    )
    assert "unsupervised" not in (train, val, test)
