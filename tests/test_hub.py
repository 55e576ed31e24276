"""KerasHub presets: the zoo's BERT and ViT compute what KerasHub's backbones compute with the
same weights, the zoo's WordPiece gives KerasHub's ids, runs start from presets and export back
to them. Every preset here is a tiny random backbone the test saves itself: nothing is fetched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import (
    assert_one_line_error,
    smoke_args,
    tiny_image,
    zoo,
    zoo_json,
)

keras_hub = pytest.importorskip("keras_hub")

# A BERT-like vocabulary with BERT's layout: [PAD] 0, unused slots, then [UNK] [CLS] [SEP]
# [MASK] at 4-7 (not the zoo's 0-4), characters and their ## forms, a few words.
LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")
VOCAB = [
    "[PAD]", "[unused0]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    *LETTERS, *(f"##{c}" for c in LETTERS), *".,!?'-()",
    "the", "film", "great", "awful", "cafe", "##ing", "hello", "world", "é", "café",
]  # fmt: skip
TEXTS = [
    "Hello World!",
    "THE Café, the CAFE and the cafés...",
    "Résumé: naïve façade — ünïcödé?",
    "great film!!! awful-ish (really)",
    "zzyzx qwerty 12345 don't",
    "",
    "a" * 120,  # a word past the per-word length limit
]
TOL = 1e-5


def _bert_preset(folder: Path, seed: int = 0, **tokenizer) -> Path:
    import keras

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCAB),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=64,
    )
    _randomize(backbone, seed)
    backbone.save_to_preset(str(folder))
    options = {"lowercase": True, **tokenizer}
    keras_hub.models.BertTokenizer(vocabulary=VOCAB, **options).save_to_preset(str(folder))
    return folder


def _vit_preset(folder: Path, seed: int = 0, size: int = 16, **options) -> Path:
    import keras

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(size, size, 3),
        patch_size=4,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        **options,
    )
    _randomize(backbone, seed)
    backbone.save_to_preset(str(folder))
    keras_hub.layers.ViTImageConverter(
        image_size=(size, size), scale=1 / 127.5, offset=-1.0
    ).save_to_preset(str(folder))
    return folder


def _ids(tokens) -> list:
    """KerasHub's tokenizers give lists in eager mode, ragged tensors in graphs."""
    return tokens if isinstance(tokens, list) else tokens.to_list()


def _randomize(model, seed: int) -> None:
    """Every weight random (norms and biases too), so no weight can be missed unnoticed."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.5, w.shape).astype("float32"))


def _info(modality: str, shape, vocab_size: int | None = None):
    from zoo.data.datasets import DatasetInfo

    return DatasetInfo(
        name="test", modality=modality, input_key="x", label_key="label", num_classes=3,
        label_names=["a", "b", "c"], input_shape=tuple(shape), source_shape=None, splits={},
        train_split="train", val_split=None, test_split="test", vocab_size=vocab_size,
    )  # fmt: skip


def _zoo_from_preset(preset_dir: Path, family: str, shape, dataset: str):
    """The zoo model `zoo train FAMILY --init-from PRESET` builds and loads, without training."""
    from zoo.models import registry
    from zoo.training import presets, recipes

    config = recipes.resolve(family, dataset, flags={"init_from": str(preset_dir)})
    modality = "text" if family == "bert" else "image"
    info = _info(modality, shape, len(VOCAB) if family == "bert" else None)
    model = registry.create_model(config.model, info, config.model_config)
    loaded = presets.load_weights(model, presets.resolve(str(preset_dir)))
    return config, model, loaded


def test_bert_backbone_equals_keras_hub(tmp_path):
    from zoo.data import preprocess
    from zoo.training import presets

    preset = _bert_preset(tmp_path / "bert")
    config, model, loaded = _zoo_from_preset(preset, "bert", (24,), "imdb_reviews")
    assert config.model == "bert_tiny"  # the family default, the preset's architecture set
    assert config.model_config["hidden_size"] == 16 and config.model_config["sep_id"] == 6
    assert config.model_config["max_positions"] == 64  # 24 tokens use a slice of the table
    reference = keras_hub.models.BertBackbone.from_preset(str(preset))
    assert loaded == len(reference.weights)  # every backbone weight, the pooler included

    encoder = preprocess.load_text_encoder(presets.resolve(str(preset)).preprocessor_dir, 24)
    tokens = encoder(tf.constant(TEXTS)).numpy()
    assert (tokens[:, 0] == 5).all() and (tokens == 6).any() and (tokens == 0).any()
    ours = presets.backbone_outputs(model, "bert")(tokens)
    theirs = reference(presets.hub_inputs(tokens, 6))
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(ours[key], theirs[key], atol=TOL, rtol=0, err_msg=key)
    # Sentence pairs: segment 1 after the first [SEP], as KerasHub's packer gives them.
    pairs = encoder(tf.constant([["hello world", "the film"], ["great", "awful!"]])).numpy()
    inputs = presets.hub_inputs(pairs, 6)
    assert inputs["segment_ids"].max() == 1
    np.testing.assert_allclose(
        presets.backbone_outputs(model, "bert")(pairs)["sequence_output"],
        reference(inputs)["sequence_output"],
        atol=TOL,
        rtol=0,
    )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"strip_accents": True},
        {"lowercase": False},
        {"lowercase": False, "strip_accents": True},
    ],
    ids=["uncased", "uncased-strip", "cased", "cased-strip"],
)
def test_wordpiece_gives_keras_hub_ids(tmp_path, options):
    from zoo.data import preprocess
    from zoo.training import presets

    preset = _bert_preset(tmp_path / "bert", **options)
    reference = keras_hub.models.BertTokenizer.from_preset(str(preset))
    encoder = preprocess.load_text_encoder(presets.resolve(str(preset)).preprocessor_dir, 64)
    ours = encoder.tokenize(tf.constant(TEXTS)).to_list()
    theirs = _ids(reference(tf.constant(TEXTS)))
    assert ours == theirs
    assert any(4 in row for row in ours)  # unknown words map to [UNK]


def test_vit_backbone_equals_keras_hub_and_adapts(tmp_path):
    from zoo.training import presets

    preset = _vit_preset(tmp_path / "vit")
    reference = keras_hub.models.ViTBackbone.from_preset(str(preset))
    config, model, loaded = _zoo_from_preset(preset, "vit", (16, 16, 3), "cifar10")
    assert config.image_size == 16 and config.model_config["patch_size"] == 4
    assert loaded == len(reference.weights)
    pixels = np.random.default_rng(1).random((3, 16, 16, 3), dtype="float32")  # [0, 1]
    ours = presets.backbone_outputs(model, "vit")(pixels)["sequence_output"]
    theirs = reference(pixels * 2.0 - 1.0)  # the preset's converter: [0, 255] -> [-1, 1]
    np.testing.assert_allclose(ours, theirs, atol=TOL, rtol=0)

    # Grey images: the kernel summed over channels answers as for the RGB image of equal
    # channels.
    _, grey, _ = _zoo_from_preset(preset, "vit", (16, 16, 1), "mnist")
    ours = presets.backbone_outputs(grey, "vit")(pixels[..., :1])["sequence_output"]
    theirs = reference(np.repeat(pixels[..., :1], 3, -1) * 2.0 - 1.0)
    np.testing.assert_allclose(ours, theirs, atol=TOL, rtol=0)

    # Another image size: the class token's position row is kept, the 4x4 grid resized to 6x6.
    _, bigger, _ = _zoo_from_preset(preset, "vit", (24, 24, 3), "cifar10")
    table = reference.get_layer("vit_patching_and_embedding").position_embedding.embeddings
    resized = bigger.get_layer("position_embedding").weights[0].numpy()
    assert resized.shape == (1 + 36, 16)
    np.testing.assert_allclose(resized[0], table.numpy()[0], atol=0)
    corner = presets.adapt_position_embedding(table.numpy(), (4, 4), (4, 4))
    np.testing.assert_array_equal(corner, table.numpy())  # same grid: untouched


def test_preset_names_are_keras_hub_presets():
    from zoo.models import registry
    from zoo.training import presets

    known = set(keras_hub.models.Backbone.presets)
    for variant, names in presets.PRESETS.items():
        registry.get_spec(variant)
        assert set(names) <= known, set(names) - known
    rows = {r["name"]: r for r in zoo_json("models")}
    assert rows["bert_tiny"]["presets"] == ["bert_tiny_en_uncased"]
    assert "vit_base_patch16_224_imagenet" in rows["vit_base"]["presets"]
    assert rows["cnn"]["presets"] == []


def test_train_bert_from_preset_export_serve_and_share(tmp_path, mock_tfds, workdir):
    """zoo train bert --init-from PRESET on mocked IMDB, eval, SavedModel export and serving,
    then the run back as a KerasHub preset that KerasHub loads with equal outputs."""
    from zoo.training import presets

    preset = _bert_preset(tmp_path / "bert-preset")
    summary = zoo_json(
        *smoke_args("bert", "imdb_reviews", "ft", "--sequence-length", "24",
                    "--init-from", str(preset))
    )  # fmt: skip
    run = Path(summary["run_dir"])
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "bert_tiny" and config["model_config"]["sep_id"] == 6
    assert (run / "preprocessor" / "vocabulary.txt").read_text().split("\n")[:-1] == VOCAB
    assert (
        json.loads((run / "preprocessor" / "wordpiece.json").read_text())["strip_accents"] is False
    )

    exported = zoo_json("export", str(run), "--verify")
    assert exported["verify"]["serving_default"]["ok"]
    loaded = tf.saved_model.load(exported["export_dir"])
    served = loaded.signatures["serving_default"](text=tf.constant(["a great film", "awful"]))
    assert served["probabilities"].shape == (2, 2)

    shared = zoo_json("export", str(run), "--format", "keras-hub")
    assert max(shared["max_abs_diff"].values()) < TOL
    backbone = keras_hub.models.BertBackbone.from_preset(shared["preset"])
    tokenizer = keras_hub.models.BertTokenizer.from_preset(shared["preset"])
    from zoo.export.loading import as_float32, load_keras_model
    from zoo.runs.rundir import open_run

    model = as_float32(load_keras_model(open_run(run)))  # bf16-trained on bf16 CPUs
    from zoo.data import preprocess

    encoder = preprocess.load_text_encoder(run / "preprocessor")
    tokens = encoder(tf.constant(TEXTS)).numpy()
    ours = presets.backbone_outputs(model, "bert")(tokens)
    theirs = backbone(presets.hub_inputs(tokens, encoder.sep_id))
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(ours[key], theirs[key], atol=TOL, rtol=0, err_msg=key)
    assert _ids(tokenizer(tf.constant(TEXTS))) == encoder.tokenize(tf.constant(TEXTS)).to_list()
    # Never overwritten: a second export of the same name is refused.
    assert_one_line_error(zoo("export", str(run), "--format", "keras-hub", ok=False), "exists")


def test_pretrain_from_preset_masks_its_special_tokens(tmp_path, mock_tfds, workdir):
    """zoo pretrain from a preset whose [CLS]/[SEP]/[MASK] are not the zoo's ids: the masked
    run trains, then shares as a KerasHub preset (its pooler untrained, as the note says)."""
    preset = _bert_preset(tmp_path / "bert-preset")
    pre = zoo_json(
        "pretrain", "bert", "-d", "imdb_reviews", "--split", "unsupervised", "--smoke",
        "--run-name", "mlm", "--data-dir", "tfds", "--sequence-length", "24",
        "--init-from", str(preset),
    )  # fmt: skip
    assert 0 <= pre["masked_accuracy"] <= 1
    shared = zoo_json("export", pre["run_dir"], "--format", "keras-hub")
    assert set(shared["max_abs_diff"]) == {"sequence_output"}
    assert shared["max_abs_diff"]["sequence_output"] < TOL
    assert any("pooled_dense" in n for n in shared["notes"])


def test_train_vit_from_preset_export_serve_and_share(tmp_path, mock_tfds, workdir):
    from zoo.training import presets

    preset = _vit_preset(tmp_path / "vit-preset")
    summary = zoo_json(
        *smoke_args("vit", "cifar10", "v", "--batch-size", "8", "--init-from", str(preset))
    )
    run = Path(summary["run_dir"])
    assert json.loads((run / "config.json").read_text())["image_size"] == 16  # the preset's
    exported = zoo_json("export", str(run), "--verify")
    assert exported["verify"]["serving_default"]["ok"]
    loaded = tf.saved_model.load(exported["export_dir"])
    images = np.stack([tiny_image(32, 32, 3, seed=s) for s in range(2)])
    served = loaded.signatures["serving_images"](images=tf.constant(images))
    assert served["probabilities"].shape == (2, 10)

    shared = zoo_json("export", str(run), "--format", "keras-hub")
    assert shared["max_abs_diff"]["sequence_output"] < TOL
    backbone = keras_hub.models.ViTBackbone.from_preset(shared["preset"])
    converter = keras_hub.layers.ImageConverter.from_preset(shared["preset"])
    from zoo.export.loading import as_float32, load_keras_model
    from zoo.runs.rundir import open_run

    model = as_float32(load_keras_model(open_run(run)))  # bf16-trained on bf16 CPUs
    raw = np.stack([tiny_image(16, 16, 3, seed=s) for s in range(2)]).astype("float32")
    ours = presets.backbone_outputs(model, "vit")(raw / 255.0)["sequence_output"]
    np.testing.assert_allclose(ours, backbone(converter(raw)), atol=TOL, rtol=0)


def test_preset_errors_are_one_line(tmp_path, mock_tfds, workdir):
    bert = _bert_preset(tmp_path / "bert-preset")
    vit = _vit_preset(tmp_path / "vit-preset")
    odd = _vit_preset(tmp_path / "odd-vit", use_mha_bias=False)
    cases = [
        (smoke_args("vit", "cifar10", "a", "--init-from", str(bert)), ("BERT text", "zoo train bert")),
        (smoke_args("bert", "imdb_reviews", "b", "--init-from", str(vit)), ("VIT image", "zoo train vit")),
        (smoke_args("cnn", "cifar10", "c", "--init-from", str(vit)), ("cnn",)),
        (smoke_args("vit", "cifar10", "d", "--init-from", str(odd)), ("use_mha_bias=False",)),
        (smoke_args("bert_base", "imdb_reviews", "e", "--init-from", str(bert)), ("zoo train bert",)),
        (
            smoke_args("bert", "imdb_reviews", "f", "--init-from", str(bert),
                       "--set", "model.num_layers=3"),
            ("model.num_layers=3", "preset"),
        ),
        (smoke_args("bert", "imdb_reviews", "g", "--init-from", "no_such_preset_xyz"), ("no run",)),
    ]  # fmt: skip
    for args, needles in cases:
        assert_one_line_error(zoo(*args, ok=False), *needles)
    assert not any((workdir / "runs").glob("*/model.keras"))
    # A damaged preset (KerasHub cannot read its config) is one line that says what to do;
    # (handles are not tried here: tests contact no host).
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text('{"registered_name": "keras_hub>BertBackbone", "con')
    result = zoo(*smoke_args("bert", "imdb_reviews", "h", "--init-from", str(damaged)), ok=False)
    assert_one_line_error(result, "could not load KerasHub preset", "preset directory")


def test_a_presets_position_table_wins_over_the_recipes_length(tmp_path):
    """The imdb recipe asks for 320 tokens; a preset with 64 positions lowers that default (one
    note), while a length the user set stays theirs and the model refuses it in one line."""
    from zoo.errors import ZooError
    from zoo.models import registry
    from zoo.training import recipes

    preset = _bert_preset(tmp_path / "bert")
    notes = []
    config = recipes.resolve("bert", "imdb_reviews", flags={"init_from": str(preset)}, notes=notes)
    assert config.sequence_length == 64
    assert notes == [
        "note: sequence_length 64, the preset's max_positions (the recipe's 320 is longer; "
        "--sequence-length sets it)"
    ]
    asked = {"init_from": str(preset), "sequence_length": 320}
    notes = []
    config = recipes.resolve("bert", "imdb_reviews", flags=asked, notes=notes)
    assert config.sequence_length == 320 and notes == []
    with pytest.raises(ZooError, match="sequence_length 320 exceeds the model's max_positions 64"):
        registry.create_model(config.model, _info("text", (320,), len(VOCAB)), config.model_config)


def test_the_preset_note_is_printed_by_train(tmp_path):
    preset = _bert_preset(tmp_path / "bert")
    args = ("train", "bert", "-d", "imdb_reviews", "--init-from", str(preset), "--print-config")
    result = zoo(*args)
    assert json.loads(result.stdout)["sequence_length"] == 64
    assert "sequence_length 64, the preset's max_positions" in result.stderr
