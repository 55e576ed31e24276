"""Dataset metadata without downloads: modality, keys, classes, split choices, refusals."""

import pytest

from zoo import catalog, data
from zoo.errors import ZooError


def test_image_datasets_from_metadata(tmp_path):
    info = data.inspect("cifar10", str(tmp_path))
    assert (info.modality, info.input_key, info.label_key) == ("image", "image", "label")
    assert info.num_classes == 10 and len(info.label_names) == 10  # names come with the data
    assert info.input_shape == (32, 32, 3)
    gray = data.inspect("mnist", str(tmp_path), image_size=32)
    assert gray.input_shape == (32, 32, 1)
    assert not list(tmp_path.iterdir()), "inspect must not download or write anything"


def test_text_dataset_keys(tmp_path):
    info = data.inspect("ag_news_subset", str(tmp_path))
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
        data.inspect(name, str(tmp_path))


@pytest.mark.parametrize(
    "name,first,second",
    [("glue/mrpc", "sentence1", "sentence2"), ("glue/mnli", "premise", "hypothesis")],
)
def test_sentence_pair_datasets_keep_their_text_order(name, first, second, tmp_path):
    info = data.inspect(name, str(tmp_path))
    assert (info.modality, info.input_key, info.pair_key) == ("text", first, second)
    assert catalog.describe(name, str(tmp_path))["input"] == f"{first}, {second}"
    single = data.inspect("imdb_reviews", str(tmp_path))
    assert single.pair_key == ""


def test_unknown_dataset_suggests(tmp_path):
    with pytest.raises(ZooError, match="did you mean mnist"):
        data.inspect("mnsit", str(tmp_path))


def test_validation_carved_from_train_when_missing():
    notes = []
    assert data._choose_splits({"train": 1000, "test": 10}, 0.1, notes) == (
        "train[:900]",
        "train[900:]",
        "test",
    )
    assert notes
    assert data._choose_splits({"train": 5, "validation": 2, "test": 1}, 0.1, []) == (
        "train",
        "validation",
        "test",
    )
    assert data._choose_splits({}, 0.2, []) == ("train[:80%]", "train[80%:]", "test")


def test_variable_size_images_default_to_224(tmp_path):
    info = data.inspect("imagenette", str(tmp_path))
    assert info.input_shape == (224, 224, 3) and info.notes


@pytest.mark.parametrize(
    "cache,bound,reads_after", [(True, 5, 1), (False, 5, 2), (True, 1 << 30, 2)]
)
def test_counting_pass_caches_a_split_that_fits(cache, bound, reads_after):
    """The pass that counts a split also fills its cache, so epochs read memory instead of
    decoding the split again; not when asked not to, nor when the split's stored size (the
    bound) would not fit in memory."""
    import tensorflow as tf

    from zoo import pipelines

    reads = []

    def examples():
        reads.append(1)
        for i in range(5):
            yield [i, i], i % 2

    spec = (tf.TensorSpec([2], tf.int32), tf.TensorSpec([], tf.int32))
    ds = tf.data.Dataset.from_generator(examples, output_signature=spec).filter(lambda x, y: y >= 0)
    info = data.inspect("cifar10", None)
    ds, n = pipelines.counted(ds, info, bound=bound, cache=cache)
    assert n == 5 and int(ds.cardinality()) == 5  # known to Keras, despite the filter
    assert [int(y) for _, y in ds] == [0, 1, 0, 1, 0]
    assert len(reads) == reads_after
