"""Every registered variant: builds, runs on tiny input without NaN, round-trips its config,
saves as .keras, and exports/reloads as a SavedModel (timm's test_models.py idea)."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.data.datasets import DatasetInfo
from zoo.errors import ZooError
from zoo.export.serving import ServingModule, signature_inputs
from zoo.models import registry

ALL = [s.name for s in registry.list_models()]
# The largest variants keep their width but lose depth here, to stay fast (their full sizes are
# checked in test_published_sizes).
REDUCED = {
    "bert_base": {"num_layers": 1},
    "vit_small": {"num_layers": 2},
    "vit_base": {"num_layers": 1},
}


def tf1_serve(path, signature: str, value) -> dict:
    """Run a signature the way TF Serving does: TF1 loader, session, feeds and fetches by name."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(path))
        sig = meta.signature_def[signature]
        (feed,) = sig.inputs.values()
        fetches = {k: v.name for k, v in sig.outputs.items()}
        return sess.run(fetches, {feed.name: value})


def tiny_info(modality: str) -> DatasetInfo:
    if modality == "image":
        return DatasetInfo("tiny", "image", "image", "label", 3, ("a", "b", "c"), (32, 32, 3))
    if modality == "audio":  # half a second at 8 kHz: 51 frames of 40 mel bins
        return DatasetInfo(
            "tiny", "audio", "audio", "label", 3, ("a", "b", "c"), (4000,), sample_rate=8000
        )
    return DatasetInfo("tiny", "text", "text", "label", 3, ("a", "b", "c"), (12,), vocab_size=50)


def tiny_input(info: DatasetInfo, batch: int = 2):
    rng = np.random.default_rng(0)
    if info.modality == "image":
        return rng.random((batch, *info.input_shape), dtype=np.float32)
    if info.modality == "audio":
        return rng.uniform(-0.5, 0.5, (batch, *info.input_shape)).astype(np.float32)
    return rng.integers(0, info.vocab_size, (batch, *info.input_shape)).astype("int32")


@pytest.mark.parametrize("name", ALL)
def test_variant_builds_runs_and_round_trips(name, tmp_path):
    spec = registry.get_spec(name)
    info = tiny_info(spec.modality)
    model = registry.create_model(name, info, REDUCED.get(name))
    x = tiny_input(info)
    logits = model(x, training=False).numpy()
    assert logits.shape == (2, 3)
    assert np.isfinite(logits).all()
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x, training=False).numpy(), logits, rtol=1e-5, atol=1e-5)
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(reloaded(x, training=False).numpy(), logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_variant_exports_and_reloads(name, tmp_path):
    spec = registry.get_spec(name)
    info = tiny_info(spec.modality)
    model = registry.create_model(name, info, REDUCED.get(name))
    vec = None
    if spec.tokenizer == "wordpiece":
        from zoo.data.preprocess import SPECIAL_TOKENS, WordPiece

        vec = WordPiece([*SPECIAL_TOKENS, *(f"w{i}" for i in range(40))], 12)
    elif spec.modality == "text":
        from zoo.data.preprocess import make_vectorizer

        vec = make_vectorizer(50, 12, "lower", [f"w{i}" for i in range(40)])
    module = ServingModule(model, info, tmp_path / "assets", {"dataset": info.to_json()}, vec)
    module.write(tmp_path / "sm")
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    if spec.modality == "image":
        raw = (tiny_input(info, 3) * 255).astype("uint8")
        big = tf.image.resize(raw, (40, 40)).numpy().astype("uint8")  # other size: resized
        assert loaded.signatures["serving_images"](images=big)["probabilities"].shape == (3, 3)
    elif spec.modality == "audio":
        raw = (tiny_input(info, 3) * 32768).astype("int16")
    else:
        raw = np.array(["w1 w2 w3", "w5 unknown", "W7"], dtype=object)
    want = module.raw(raw)
    for name in module.signatures():  # every signature, from what its clients send
        got = loaded.signatures[name](**signature_inputs(info, name, raw))
        np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=1e-5)
    np.testing.assert_allclose(np.sum(got["probabilities"], -1), 1.0, atol=1e-5)
    assert set(got["class_name"].numpy()) <= {b"a", b"b", b"c"}
    # TF Serving and saved_model_cli load with the TF1 session loader: check that path too.
    sig = "serving_images" if spec.modality == "image" else "serving_default"
    (feed,) = signature_inputs(info, sig, raw).values()
    served = tf1_serve(tmp_path / "sm", sig, np.asarray(feed))
    np.testing.assert_allclose(served["probabilities"], want["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(served["class_name"], want["class_name"].numpy())


def test_model_index_matches_the_registry():
    """`zoo models` lists from zoo/models/index.py without building anything; this builds every
    variant on the reference input and checks its row (python scripts/update_model_index.py
    rebuilds the table)."""
    from zoo.model_info import index_row
    from zoo.models.index import VARIANTS

    specs = registry.list_models()
    assert sorted(VARIANTS) == sorted(s.name for s in specs)
    for spec in specs:
        assert index_row(spec) == VARIANTS[spec.name], spec.name


def test_recurrent_loops_are_counted_in_the_flops():
    """The profiler does not look inside a recurrent loop; the kernels' matmuls (2 per
    multiply-add) and bias adds are counted at each of the 256 steps, both ways for bilstm."""
    from zoo.data.datasets import reference_info
    from zoo.model_info import flops, recurrent_flops

    info = reference_info("text")  # 256 tokens, Embedding 128 -> 64 units
    lstm = registry.create_model("lstm", info)
    per_step = 2 * (128 * 4 * 64 + 64 * 4 * 64) + 4 * 64
    assert recurrent_flops(lstm) == 256 * per_step
    assert flops(lstm, info.input_shape, "int32") > 256 * per_step
    gru = registry.create_model("gru", info)  # reset_after: an input and a recurrent bias
    assert recurrent_flops(gru) == 256 * (2 * (128 * 3 * 64 + 64 * 3 * 64) + 2 * 3 * 64)
    assert recurrent_flops(registry.create_model("bilstm", info)) == 2 * 256 * per_step
    assert recurrent_flops(registry.create_model("transformer", info)) == 0


def test_family_name_resolves_to_default_variant():
    assert registry.get_spec("resnet").name == "resnet20"
    assert registry.get_spec("cnn").name == "cnn"


def test_listing_filters():
    assert [s.name for s in registry.list_models("resnet*")] == ["resnet20", "resnet32", "resnet56"]
    assert all(s.modality == "image" for s in registry.list_models(modality="image"))
    audio = {s.name for s in registry.list_models(modality="audio")}
    assert {"ds_cnn", "cnn", "resnet20", "lstm", "simple_rnn"} <= audio
    assert not audio & {"vit_tiny", "bert_tiny", "transformer", "mlp"}
    with pytest.raises(ZooError, match="modality"):
        registry.list_models(modality="video")


def test_unknown_model_suggests():
    with pytest.raises(ZooError, match="did you mean .*resnet20"):
        registry.get_spec("resnet02")


def test_published_sizes():
    from zoo.data.datasets import reference_info

    cnn = registry.create_model("cnn", reference_info("image"))
    assert cnn.count_params() == 122_570  # the TensorFlow tutorial's number
    r20 = registry.create_model("resnet20", reference_info("image"))
    assert 0.26e6 < r20.count_params() < 0.28e6  # He et al. 2016: 0.27M
    bert = dataclasses.replace(reference_info("text"), vocab_size=30522)
    bert_base = registry.create_model("bert_base", bert).count_params()
    assert abs(bert_base / 110e6 - 1) < 0.02, bert_base  # Devlin et al. 2018: 110M
    imagenet = dataclasses.replace(
        reference_info("image"),
        input_shape=(224, 224, 3),
        num_classes=1000,
        label_names=tuple(map(str, range(1000))),
    )
    vit_base = registry.create_model("vit_base", imagenet).count_params()
    assert abs(vit_base / 86e6 - 1) < 0.02, vit_base  # Dosovitskiy et al. 2020: 86M


def test_vit_patch_size_follows_the_image_size():
    from zoo.models.vit import auto_patch_size

    assert auto_patch_size(224) == 16 and auto_patch_size(384) == 16
    assert auto_patch_size(32) == 4 and auto_patch_size(64) == 8
    assert auto_patch_size(28) in (4, 7)
    with pytest.raises(ZooError, match="larger than"):
        registry.create_model("vit_tiny", tiny_info("image"), {"patch_size": 64})


def test_architecture_overrides_are_strict():
    info = tiny_info("image")
    model = registry.create_model("cnn", info, {"dropout": 0.5, "batch_norm": True})
    assert any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    with pytest.raises(ZooError, match="did you mean dropout"):
        registry.create_model("cnn", info, {"dropuot": 0.5})
    with pytest.raises(ZooError, match="must be a number"):
        registry.create_model("cnn", info, {"dropout": "high"})
    with pytest.raises(ZooError, match="at least 18x18"):
        registry.create_model("cnn", dataclasses.replace(info, input_shape=(16, 16, 3)))
    with pytest.raises(ZooError, match="6n\\+2"):
        registry.create_model("resnet20", info, {"depth": 21})


@pytest.mark.parametrize("padding,offset", [("symmetric", 0), ("same", 1)])
def test_resnet_stride_two_conv_centres_where_the_shortcut_samples(padding, offset):
    """With the paper's padding the downsampling conv's output i looks at input 2i, the pixel the
    option-A shortcut keeps; TF's "same" looks at 2i+1 (kept as an option for the older runs)."""
    info = dataclasses.replace(tiny_info("image"), input_shape=(16, 16, 3))
    model = registry.create_model("resnet20", info, {"depth": 8, "stride_padding": padding})
    conv = model.get_layer("stage2_block1_conv1")
    inputs = conv.input.shape[-1]
    kernel = np.zeros(conv.kernel.shape, "float32")
    kernel[1, 1, np.arange(inputs), np.arange(inputs)] = 1.0  # the centre tap, channel to itself
    conv.kernel.assign(kernel)
    block_input = model.get_layer("stage1_block1_out").output
    probe = keras.Model(model.inputs, [block_input, conv.output])
    x, y = probe({"inputs": np.random.default_rng(0).random((1, 16, 16, 3), "float32")})
    x, y = np.asarray(x), np.asarray(y)
    np.testing.assert_allclose(y[..., :inputs], x[:, offset::2, offset::2, :], atol=1e-6)
    shortcut = np.asarray(model.get_layer("stage2_block1_shortcut")(x))
    np.testing.assert_array_equal(shortcut[..., 8:24], x[:, ::2, ::2, :])
    if padding == "symmetric":
        assert model.get_layer("stage2_block1_pad")  # and the weights are the same either way
    with pytest.raises(ZooError, match="stride_padding"):
        registry.create_model("resnet20", info, {"stride_padding": "reflect"})


def test_zero_pad_shortcut_round_trip():
    from zoo.models.layers import ZeroPadShortcut

    layer = ZeroPadShortcut(8, 2, name="s")
    again = ZeroPadShortcut.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    x = np.ones((1, 4, 4, 4), "float32")
    y = layer(x).numpy()
    assert y.shape == (1, 2, 2, 8)
    assert y[..., :2].sum() == 0 and y[..., 6:].sum() == 0 and y[..., 2:6].sum() == 16
    assert dataclasses.is_dataclass(registry.get_spec("cnn").config)


def _custom_layers():
    from zoo.models.audio import PowerToDb, SpecAugment
    from zoo.models.bert import Bias, SegmentIds, TiedEmbedding
    from zoo.models.layers import ZeroPadShortcut
    from zoo.models.transformer import PaddingMask, PositionEmbedding, TransformerBlock
    from zoo.models.vit import ClassToken

    return [
        (SegmentIds(), np.array([[2, 7, 3, 8, 9, 3, 0]], "int32")),
        (TiedEmbedding(20, 4), np.array([[1, 2, 3]], "int32")),
        (Bias(), np.ones((2, 3), "float32")),
        (ClassToken(), np.ones((2, 5, 8), "float32")),
        (ZeroPadShortcut(8, 2), np.ones((1, 4, 4, 4), "float32")),
        (PositionEmbedding(6), np.ones((2, 5, 8), "float32")),
        (
            TransformerBlock(2, 16, dropout=0.1, norm_first=False, drop_path=0.1),
            np.ones((2, 5, 8), "float32"),
        ),
        (PaddingMask(), np.array([[3, 0, 0], [0, 0, 0]], "int32")),
        (SpecAugment(2, 0.2, 1, 0.3, seed=3), np.ones((2, 20, 8), "float32")),
        (PowerToDb(1e-8), np.array([[0.0, 1e-3, 1.0, 100.0]], "float32")),
    ]


@pytest.mark.parametrize("layer,x", _custom_layers(), ids=lambda v: type(v).__name__)
def test_custom_layer_config_round_trip(layer, x):
    """KerasHub's lesson: get_config must match __init__ key for key."""
    y = keras.ops.convert_to_numpy(layer(x))
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    again(x)
    if layer.weights:
        again.set_weights(layer.get_weights())
        np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)), y, atol=1e-6)


def test_bert_segment_ids_and_masked_lm_head():
    from zoo.models.bert import SegmentIds, build_bert_pretrainer

    segments = SegmentIds()(np.array([[2, 7, 3, 8, 9, 3, 0, 0]], "int32"))
    # Padding (id 0) is segment 0, as KerasHub's BERT preprocessing gives it.
    assert keras.ops.convert_to_numpy(segments).tolist() == [[0, 0, 0, 1, 1, 1, 0, 0]]
    info = tiny_info("text")
    model = build_bert_pretrainer(info, registry.model_config("bert_tiny"), 3)
    positions = np.array([[1, 4, 0], [2, 2, 5]], "int32")
    logits = model({"tokens": tiny_input(info), "positions": positions})
    assert tuple(logits.shape) == (2, 3, info.vocab_size)
    assert logits.dtype == "float32"
    # The output layer is the token embedding itself (tied), not a separate matrix.
    vocab_sized = [w.path for w in model.weights if info.vocab_size in w.shape]
    assert len(vocab_sized) == 2, vocab_sized  # the token embedding and the output bias


def test_padding_mask_keeps_first_position():
    from zoo.models.transformer import PaddingMask

    mask = keras.ops.convert_to_numpy(PaddingMask()(np.array([[0, 0], [5, 0]], "int32")))
    assert mask.tolist() == [[True, False], [True, False]]
