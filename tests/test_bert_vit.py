"""BERT-style encoders and ViT: WordPiece, masked-LM masking, pretrain -> fine-tune -> export ->
serve strings, --init-from across image datasets, ViT on grayscale 28x28 and RGB 32x32."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from helpers import PROJECT, assert_one_line_error, smoke_args, tiny_image, zoo, zoo_json

from zoo.data import datasets, pipelines, preprocess
from zoo.export.serving import encode_png, load_saved_model
from zoo.tasks.masked_lm import mask_tokens

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A lazy dog sleeps while quick foxes jump!",
    "Brown dogs and quick foxes are friends.",
] * 40


def _wordpiece(length=16):
    return preprocess.learn_wordpiece(tf.data.Dataset.from_tensor_slices(CORPUS), 120, length)


def test_wordpiece_round_trip_and_layout():
    wp = _wordpiece()
    assert wp.vocabulary[:5] == list(preprocess.SPECIAL_TOKENS)
    assert any(token.startswith("##") for token in wp.vocabulary)  # real word pieces
    ids = wp(tf.constant(["The quick brown fox jumps over the lazy dog", ""])).numpy()
    assert ids.shape == (2, 16) and ids.dtype == np.int32
    assert ids[0, 0] == preprocess.CLS_ID and preprocess.SEP_ID in ids[0]
    assert ids[1, :3].tolist() == [preprocess.CLS_ID, preprocess.SEP_ID, preprocess.PAD_ID]
    text = wp.detokenize(ids).numpy()[0].decode()
    assert text == "the quick brown fox jumps over the lazy dog"
    # An unseen word is split into known pieces or [UNK], never dropped.
    unseen = wp(tf.constant(["zebra"])).numpy()[0]
    assert (unseen[1:] != preprocess.PAD_ID).sum() >= 2


def test_wordpiece_pairs_and_truncation():
    wp = _wordpiece(length=10)
    ids = wp(tf.constant(["quick brown fox jumps over"]), tf.constant(["lazy dog sleeps"]))
    row = ids.numpy()[0].tolist()
    assert row[0] == preprocess.CLS_ID and row.count(preprocess.SEP_ID) == 2
    assert len(row) == 10 and preprocess.PAD_ID not in row  # truncated to fit both [SEP]s
    from zoo.models.bert import SegmentIds

    segments = SegmentIds()(ids).numpy()[0].tolist()
    first_sep = row.index(preprocess.SEP_ID)
    assert segments[: first_sep + 1] == [0] * (first_sep + 1)
    assert segments[first_sep + 1 :] == [1] * (len(row) - first_sep - 1)


def test_masking_proportions_and_untouchables():
    rng = np.random.default_rng(0)
    batch, length, vocab = 512, 128, 1000
    ids = rng.integers(5, vocab, (batch, length)).astype(np.int32)
    lengths = rng.integers(10, length, batch)
    for i, n in enumerate(lengths):
        ids[i, 0], ids[i, n - 1], ids[i, n:] = preprocess.CLS_ID, preprocess.SEP_ID, 0
    masked, positions, labels, weights = (
        t.numpy() for t in mask_tokens(ids, tf.constant([7, 0], tf.int64), vocab, 20)
    )
    chosen = weights > 0
    rows = np.repeat(np.arange(batch)[:, None], 20, 1)
    real = ids >= len(preprocess.SPECIAL_TOKENS)
    # Only real tokens are ever chosen; special tokens and padding never are.
    assert real[rows[chosen], positions[chosen]].all()
    assert np.array_equal(labels[chosen], ids[rows[chosen], positions[chosen]])
    # 15% of each sequence's real tokens (rounded, capped at 20 predictions).
    want = np.minimum(np.maximum(np.round(real.sum(1) * 0.15), 1), 20)
    assert np.array_equal(chosen.sum(1), want)
    # Of the chosen: ~80% [MASK], ~10% a random token, ~10% unchanged.
    new = masked[rows[chosen], positions[chosen]]
    old = labels[chosen]
    share_mask = np.mean(new == preprocess.MASK_ID)
    share_kept = np.mean(new == old)
    share_random = 1 - share_mask - share_kept
    assert abs(share_mask - 0.8) < 0.02 and abs(share_kept - 0.1) < 0.02, (share_mask, share_kept)
    assert abs(share_random - 0.1) < 0.02
    assert (new[(new != preprocess.MASK_ID) & (new != old)] >= 5).all()  # no special tokens
    # Everything not chosen is untouched.
    untouched = np.ones_like(ids, bool)
    untouched[rows[chosen], positions[chosen]] = False
    assert np.array_equal(masked[untouched], ids[untouched])
    # Same seed, same masks; another seed, other masks.
    again = mask_tokens(ids, tf.constant([7, 0], tf.int64), vocab, 20)[0].numpy()
    other = mask_tokens(ids, tf.constant([7, 1], tf.int64), vocab, 20)[0].numpy()
    assert np.array_equal(again, masked) and not np.array_equal(other, masked)


def _serve_text(export_dir, texts):
    loaded = load_saved_model(export_dir)
    return loaded.signatures["serving_default"](text=tf.constant(texts))


def test_pretrain_finetune_eval_export_serve(mock_tfds, workdir):
    small = ("--sequence-length", "32", "--max-tokens", "300")
    pre = zoo_json(
        "pretrain", "bert_tiny", "-d", "imdb_reviews", "--split", "unsupervised", "--smoke",
        "--run-name", "mlm", "--data-dir", "tfds", *small,
    )  # fmt: skip
    run = Path(pre["run_dir"])
    assert pre["task"] == "mlm" and 0 <= pre["masked_accuracy"] <= 1
    assert (run / "model.keras").exists() and (run / "preprocessor" / "wordpiece.json").exists()
    assert json.loads((run / "run.json").read_text())["task"] == "mlm"

    # A pretraining run has no classifier: eval and export say so in one line.
    assert_one_line_error(zoo("eval", str(run), ok=False), "pretraining run", "--init-from")

    tuned = zoo_json(*smoke_args("bert_tiny", "imdb_reviews", "ft", *small, "--init-from", "mlm"))
    ft = Path(tuned["run_dir"])
    # The fine-tuned run keeps the pretrained vocabulary, and the encoder started from it.
    vocab = "preprocessor/vocabulary.txt"
    assert (ft / vocab).read_text() == (run / vocab).read_text()
    assert json.loads((ft / "config.json").read_text())["init_from"] == "mlm"
    assert 0 <= zoo_json("eval", str(ft))["accuracy"] <= 1

    exported = zoo_json("export", str(ft), "--verify")
    assert exported["verify"]["serving_default"]["ok"]
    served = _serve_text(exported["export_dir"], ["a truly great film", "awful.", ""])
    assert served["probabilities"].shape == (3, 2)
    assert set(served["class_name"].numpy()) <= {b"neg", b"pos"}


def _pairs(self, split, **kwargs):
    """MRPC-like pairs: the first texts speak of 'leftword', the second of 'rightword'."""
    n = 40
    return tf.data.Dataset.from_tensor_slices(
        {
            "sentence1": [f"leftword said {i % 5} things" for i in range(n)],
            "sentence2": [f"rightword heard {i % 3} things" for i in range(n)],
            "label": np.arange(n, dtype=np.int64) % 2,
            "idx": np.arange(n, dtype=np.int32),
        }
    )


def test_sentence_pairs_train_eval_export_serve_predict(workdir):
    """A sentence-pair dataset trains a BERT-style model on [CLS] a [SEP] b [SEP]; the export
    takes text and text_pair; predict reads the texts two at a time; one-text models refuse."""
    small = ("--sequence-length", "24", "--max-tokens", "200")
    with tfds.testing.mock_data(as_dataset_fn=_pairs):
        run = Path(zoo_json(*smoke_args("bert_tiny", "glue/mrpc", "pairs", *small))["run_dir"])
        vocab = (run / "preprocessor" / "vocabulary.txt").read_text().split()
        assert "leftword" in vocab and "rightword" in vocab  # learned from both texts
        dataset = json.loads((run / "dataset.json").read_text())
        assert (dataset["input_key"], dataset["pair_key"]) == ("sentence1", "sentence2")
        assert 0 <= zoo_json("eval", str(run))["accuracy"] <= 1
        exported = zoo_json("export", str(run), "--verify")
        assert exported["verify"]["serving_default"]["ok"]
        refused = zoo(*smoke_args("lstm", "glue/mrpc", "l", *small), ok=False)
        assert_one_line_error(refused, "sentence-pair", "bert_tiny")
        lite = zoo_json(
            "export", str(run), "--format", "tflite", "--quantize", "none", "--eval-examples", "8"
        )
        assert lite["agreement"] == 1.0
        info = datasets.inspect("glue/mrpc", "tfds")
        texts = pipelines.load_texts(
            datasets.get_builder("glue/mrpc", "tfds"), info, "train", smoke=False
        )
        words = {t.split()[0] for t in texts.as_numpy_iterator()}  # pretraining reads both
        assert (
            words == {b"leftword", b"rightword"} and int(texts.reduce(0, lambda c, _: c + 1)) == 80
        )

    serve = load_saved_model(exported["export_dir"]).signatures["serving_default"]
    assert sorted(serve.structured_input_signature[1]) == ["text", "text_pair"]
    first = tf.constant(["leftword said 1 things", "leftword said 1 things"])
    out = serve(text=first, text_pair=tf.constant(["rightword heard 2 things", "said"]))
    p = out["probabilities"].numpy()
    assert p.shape == (2, 2) and not np.allclose(p[0], p[1])  # the second text is read

    texts = ["leftword said 1 things", "rightword heard 2 things"]
    preds = zoo_json("predict", exported["export_dir"], *texts, "-k", "1")
    assert preds[0]["input"] == texts and len(preds) == 1
    assert preds[0]["top"][0]["probability"] == pytest.approx(float(p[0].max()), abs=1e-5)
    from_run = zoo_json("predict", str(run), *texts, "-k", "1")
    assert from_run[0]["top"][0]["probability"] == pytest.approx(float(p[0].max()), abs=1e-5)
    assert_one_line_error(zoo("predict", str(run), texts[0], ok=False), "even number")
    from_lite = zoo_json("predict", lite["export_dir"], *texts, "-k", "1")
    assert from_lite[0]["top"][0]["probability"] == pytest.approx(float(p[0].max()), abs=1e-4)
    sys.path.insert(0, str(PROJECT / "scripts"))
    import client  # scripts/client.py --pairs, as a serving client sends them

    sent = client.via_savedmodel(exported["export_dir"], texts, "pairs")
    np.testing.assert_allclose(sent[0]["probabilities"], p[0], atol=1e-5)


def test_init_from_copies_the_encoder_weights(mock_tfds, workdir):
    """The fine-tuned model starts from the pretrained encoder: with a learning rate of ~0 the
    encoder weights after one epoch equal the pretrained ones; the pooler and head are new."""
    import keras

    small = ("--sequence-length", "16", "--max-tokens", "200")
    zoo("pretrain", "bert_tiny", "-d", "imdb_reviews", "--smoke", "--run-name", "mlm",
        "--data-dir", "tfds", *small)  # fmt: skip
    zoo(*smoke_args("bert_tiny", "imdb_reviews", "ft", *small, "--init-from", "runs/mlm",
                    "--lr", "1e-12", "--set", "weight_decay=0"))  # fmt: skip
    pre = keras.saving.load_model("runs/mlm/model.keras", compile=False)
    ft = keras.saving.load_model("runs/ft/model.keras", compile=False)
    for name in ("token_embedding", "segment_embedding", "block_0", "block_1"):
        for a, b in zip(pre.get_layer(name).get_weights(), ft.get_layer(name).get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-6)
    assert "pooler" not in [layer.name for layer in pre.layers]

    # A second pretraining phase at a longer sequence length continues from the first one:
    # same vocabulary, every layer (masked-LM head included) starts from the first run.
    zoo("pretrain", "bert_tiny", "-d", "imdb_reviews", "--smoke", "--run-name", "mlm2",
        "--data-dir", "tfds", "--sequence-length", "32", "--max-tokens", "200",
        "--init-from", "mlm", "--lr", "1e-12", "--set", "weight_decay=0")  # fmt: skip
    vocab = "preprocessor/vocabulary.txt"
    assert Path("runs/mlm2", vocab).read_text() == Path("runs/mlm", vocab).read_text()
    second = keras.saving.load_model("runs/mlm2/model.keras", compile=False)
    for name in ("token_embedding", "position_embedding", "block_1", "mlm_transform", "mlm_bias"):
        for a, b in zip(pre.get_layer(name).get_weights(), second.get_layer(name).get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_init_from_image_runs_across_datasets(mock_tfds, workdir):
    train = lambda ds, name, *extra: zoo(*smoke_args("cnn", ds, name, *extra), ok=False)
    assert train("mnist", "src").exit_code == 0
    # Same input shape, other dataset: the convolutions transfer, the classifier is new.
    result = train("fashion_mnist", "ft", "--init-from", "src")
    assert result.exit_code == 0, result.output
    # Other channel count: a clear error naming the layer and both shapes.
    assert_one_line_error(train("cifar10", "bad", "--init-from", "src"), "conv", "shape")
    # Another family, or no such run.
    assert_one_line_error(train("mnist", "x", "--init-from", "nope"), "no run 'nope'")
    other = zoo(*smoke_args("mlp", "mnist", "m", "--init-from", "src"), ok=False)
    assert_one_line_error(other, "cnn family")


@pytest.mark.parametrize("family", ["bert", "transformer"])
def test_mean_pooling_averages_real_tokens_only(family):
    """pooling=mean feeds the classifier the mean of the encoder's outputs over real tokens
    (padding masked out); an unknown pooling is a clear error naming the choices."""
    import dataclasses

    import keras

    from zoo.data import datasets
    from zoo.errors import ZooError
    from zoo.models import registry

    name, first = ("bert_tiny", "cls") if family == "bert" else ("transformer", "first")
    info = dataclasses.replace(datasets.reference_info("text"), input_shape=(12,), vocab_size=50)
    model = registry.create_model(name, info, {"pooling": "mean"})
    pool = model.get_layer("pool")
    sequence = pool.input[0] if isinstance(pool.input, (list, tuple)) else pool.input  # + mask
    probe = keras.Model(model.input, [sequence, pool.output])
    tokens = np.zeros((2, 12), "int32")
    tokens[0, :5] = [2, 7, 8, 9, 3]  # [CLS] w w w [SEP], then padding
    tokens[1, :3] = [2, 11, 3]
    seq, pooled = (np.asarray(t) for t in probe(tokens, training=False))
    for row, real in enumerate([5, 3]):
        np.testing.assert_allclose(pooled[row], seq[row, :real].mean(0), rtol=1e-5, atol=1e-6)

    with pytest.raises(ZooError, match=f"model.pooling must be {first} or mean, got 'max'"):
        registry.create_model(name, info, {"pooling": "max"})


def test_pretrain_refuses_models_without_mlm(mock_tfds, workdir):
    result = zoo("pretrain", "cnn", "-d", "imdb_reviews", "--smoke", "--data-dir", "tfds", ok=False)
    assert_one_line_error(result, "no masked-LM pretraining", "bert_tiny")


@pytest.mark.parametrize("dataset,size,channels", [("mnist", 28, 1), ("cifar10", 32, 3)])
def test_vit_train_export_serve_png(dataset, size, channels, mock_tfds, workdir):
    summary = zoo_json(
        *smoke_args(
            "vit_tiny", dataset, "v", "--batch-size", "16",
            "--set", "model.num_layers=2", "--set", "model.hidden_size=48",
            "--set", "model.num_heads=3", "--set", "model.mlp_dim=96",
        )
    )  # fmt: skip
    assert summary["parameters"] < 200_000
    exported = zoo_json("export", summary["run_dir"], "--verify")
    assert exported["verify"]["serving_default"]["ok"]
    loaded = load_saved_model(exported["export_dir"])
    images = np.stack([tiny_image(size, size, channels, seed=s) for s in range(3)])
    served = loaded.signatures["serving_default"](image_bytes=tf.constant(encode_png(images)))
    assert served["probabilities"].shape == (3, 10)
    np.testing.assert_allclose(served["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)
