"""Real data from ../shared/data (no network): prepare Fashion-MNIST from its original archives
with TFDS's own builder, then train the tutorial CNN for one epoch at batch 32 (86.3% here, about
a minute)."""

import shutil

import pytest
from helpers import SHARED_DATA, zoo, zoo_json

ARCHIVES = SHARED_DATA / "archives" / "fashion_mnist"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not ARCHIVES.is_dir(), reason=f"real data not found at {ARCHIVES}"),
]


def test_prepare_then_train_cnn_one_epoch(workdir):
    tfds_dir = workdir / "tfds"
    prepared = zoo_json(
        "data", "prepare", "fashion_mnist", "--from", str(ARCHIVES), "--data-dir", str(tfds_dir)
    )
    assert prepared["splits"] == {"train": 60000, "test": 10000}
    summary = zoo_json(
        "train",
        "cnn",
        "--dataset",
        "fashion_mnist",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--data-dir",
        str(tfds_dir),
        "--run-name",
        "fm",
    )
    assert summary["metrics"]["examples"] == 10000
    assert summary["test_accuracy"] >= 0.85, summary["test_accuracy"]
    exported = zoo_json("export", summary["run_dir"], "--verify")
    assert all(c["ok"] for c in exported["verify"].values())


def test_prepare_refuses_wrong_archives(workdir):
    bad = workdir / "bad"
    bad.mkdir()
    for f in ARCHIVES.iterdir():
        shutil.copy(f, bad / f.name)
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    result = zoo(
        "data",
        "prepare",
        "fashion_mnist",
        "--from",
        str(bad),
        "--data-dir",
        str(workdir / "tfds"),
        ok=False,
    )
    assert result.exit_code == 2 and "could not prepare" in result.stderr


CIFAR = SHARED_DATA / "tfds" / "cifar10"


@pytest.mark.skipif(not CIFAR.is_dir(), reason=f"real data not found at {CIFAR}")
@pytest.mark.parametrize(
    "split,needle",
    [
        ("trian", "bad split 'trian' for cifar10: Unknown split"),
        ("train[50%:10%]", "selects no examples"),
        ("train[:50%]+test[:10]", "overlaps the test split 'test'"),
        ("train[:49001]", "overlaps the validation split 'train[49000:]'"),
    ],
)
def test_training_splits_are_checked_against_the_real_sizes(split, needle, workdir):
    from helpers import assert_one_line_error

    args = ("train", "cnn", "-d", "cifar10", "--data-dir", str(SHARED_DATA / "tfds"))
    assert_one_line_error(zoo(*args, "--split", split, ok=False), needle)
    assert not (workdir / "runs").exists()


@pytest.mark.skipif(not CIFAR.is_dir(), reason=f"real data not found at {CIFAR}")
def test_cnn_trains_one_short_epoch_on_real_cifar10(workdir):
    """The mission's own example on the real CIFAR-10: the default recipe, one epoch of the
    first 5,000 training images, evaluated on the whole test split."""
    summary = zoo_json(
        "train", "cnn", "-d", "cifar10", "--data-dir", str(SHARED_DATA / "tfds"),
        "--split", "train[:5000]", "--epochs", "1", "--run-name", "c10",
    )  # fmt: skip
    assert summary["train_examples"] == 5000 and summary["metrics"]["examples"] == 10000
    assert summary["test_accuracy"] >= 0.25, summary["test_accuracy"]  # chance is 0.10
