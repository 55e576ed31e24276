"""Dataset metadata without downloads: modality, keys, classes, split choices, refusals."""

import pytest

from zoo.data import catalog, datasets
from zoo.errors import ZooError


def test_image_datasets_from_metadata(tmp_path):
    info = datasets.inspect("cifar10", str(tmp_path))
    assert (info.modality, info.input_key, info.label_key) == ("image", "image", "label")
    assert info.num_classes == 10 and len(info.label_names) == 10  # names come with the data
    assert info.input_shape == (32, 32, 3)
    gray = datasets.inspect("mnist", str(tmp_path), image_size=32)
    assert gray.input_shape == (32, 32, 1)
    assert not list(tmp_path.iterdir()), "inspect must not download or write anything"


def test_text_dataset_keys(tmp_path):
    info = datasets.inspect("ag_news_subset", str(tmp_path))
    assert (info.modality, info.input_key) == ("text", "description")
    assert info.num_classes == 4


@pytest.mark.parametrize(
    "name,needle",
    [
        ("coco", "not a single-label"),
        ("voc", "not a single-label"),
    ],
)
def test_refuses_other_tasks(name, needle, tmp_path):
    with pytest.raises(ZooError, match=needle):
        datasets.inspect(name, str(tmp_path))


@pytest.mark.parametrize(
    "name,first,second",
    [("glue/mrpc", "sentence1", "sentence2"), ("glue/mnli", "premise", "hypothesis")],
)
def test_sentence_pair_datasets_keep_their_text_order(name, first, second, tmp_path):
    info = datasets.inspect(name, str(tmp_path))
    assert (info.modality, info.input_key, info.pair_key) == ("text", first, second)
    assert catalog.describe(name, str(tmp_path))["input"] == f"{first}, {second}"
    single = datasets.inspect("imdb_reviews", str(tmp_path))
    assert single.pair_key == ""


def test_unknown_dataset_suggests(tmp_path):
    with pytest.raises(ZooError, match="did you mean mnist"):
        datasets.inspect("mnsit", str(tmp_path))


def test_validation_carved_from_train_when_missing():
    notes = []
    assert datasets._choose_splits({"train": 1000, "test": 10}, 0.1, notes) == (
        "train[:900]",
        "train[900:]",
        "test",
    )
    assert notes
    assert datasets._choose_splits({"train": 5, "validation": 2, "test": 1}, 0.1, []) == (
        "train",
        "validation",
        "test",
    )
    assert datasets._choose_splits({}, 0.2, []) == ("train[:80%]", "train[80%:]", "test")


def test_variable_size_images_default_to_224(tmp_path):
    info = datasets.inspect("imagenette", str(tmp_path))
    assert info.input_shape == (224, 224, 3) and info.notes


@pytest.mark.parametrize(
    "cache,bound,reads_after", [(True, 5, 1), (False, 5, 2), (True, 1 << 30, 2)]
)
def test_counting_pass_caches_a_split_that_fits(cache, bound, reads_after):
    """The pass that counts a split also fills its cache, so epochs read memory instead of
    decoding the split again; not when asked not to, nor when the split's stored size (the
    bound) would not fit in memory."""
    import tensorflow as tf

    from zoo.data import pipelines

    reads = []

    def examples():
        reads.append(1)
        for i in range(5):
            yield [i, i], i % 2

    spec = (tf.TensorSpec([2], tf.int32), tf.TensorSpec([], tf.int32))
    ds = tf.data.Dataset.from_generator(examples, output_signature=spec).filter(lambda x, y: y >= 0)
    info = datasets.inspect("cifar10", None)
    ds, n = pipelines.counted(ds, info, bound=bound, cache=cache)
    assert n == 5 and int(ds.cardinality()) == 5  # known to Keras, despite the filter
    assert [int(y) for _, y in ds] == [0, 1, 0, 1, 0]
    assert len(reads) == reads_after


def test_augmentation_draws_a_window_and_a_flip_for_each_image():
    """flip_crop on a batch: every output is a window of its zero-padded input, mirrored or
    not, each image its own draw; a seed fixes the batch."""
    import numpy as np
    import tensorflow as tf

    from zoo.data import preprocess

    image = (np.arange(64, dtype=np.uint8) + 1).reshape(8, 8, 1)  # no zeros: padding shows
    batch = tf.constant(np.repeat(image[None], 64, axis=0))
    seed = tf.constant([3, 4], tf.int64)
    out = preprocess.augment_images(batch, seed, "flip_crop").numpy()
    assert out.shape == (64, 8, 8, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, preprocess.augment_images(batch, seed, "flip_crop"))
    other = preprocess.augment_images(batch, tf.constant([3, 5], tf.int64), "flip_crop")
    assert not np.array_equal(out, other.numpy())
    pad = 2  # max(2, 8 // 8)
    draws = []
    for got in out:
        found = [
            (mirror, dy, dx)
            for mirror in (False, True)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if np.array_equal(
                got,
                np.pad(image[:, ::-1] if mirror else image, [(pad, pad)] * 2 + [(0, 0)])[
                    dy : dy + 8, dx : dx + 8
                ],
            )
        ]
        assert len(found) == 1
        draws.append(found[0])
    assert {mirror for mirror, _, _ in draws} == {False, True}
    assert len({(dy, dx) for _, dy, dx in draws}) > 10  # 25 windows, drawn per image
    flipped = preprocess.augment_images(batch, seed, "flip").numpy()
    assert all(np.array_equal(x, image) or np.array_equal(x, image[:, ::-1]) for x in flipped)


def test_a_resumed_epoch_sees_the_augmented_batches_an_uninterrupted_run_sees():
    import numpy as np
    import tensorflow as tf

    from zoo.data import pipelines

    info = datasets.inspect("cifar10", None)
    images = np.random.RandomState(0).randint(0, 256, (40, 32, 32, 3)).astype(np.uint8)
    raw = tf.data.Dataset.from_tensor_slices((images, np.arange(40) % 10))

    def batches(first):
        pipe = pipelines.make_pipeline(
            raw,
            info,
            batch_size=8,
            training=True,
            examples=40,
            epochs=(first, 2),
            seed=1,
            augment="flip_crop",
        )
        return [x.numpy() for x, _ in pipe]

    whole, resumed = batches(0), batches(1)
    assert len(whole) == 10 and len(resumed) == 5
    np.testing.assert_array_equal(np.stack(whole[5:]), np.stack(resumed))
    assert not np.array_equal(np.stack(whole[:5]), np.stack(resumed))
