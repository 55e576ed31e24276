"""Test set-up: quiet TensorFlow, 2 logical CPU devices for multi-replica code, offline TFDS."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One test process per core (pytest -n auto): one op thread each, inherited by the zoo
    # processes the tests start, instead of every process spinning threads on every core.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.pop("TFDS_DATA_DIR", None)  # tests pass their own data dirs
os.environ.pop("ZOO_RUNS_DIR", None)

import pytest
import tensorflow as tf

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


@pytest.fixture
def mock_tfds():
    """TFDS with generated examples: no download, no network (tfds.testing.mock_data)."""
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=24):
        yield


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in an empty directory with runs/ and saved_models/ inside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
