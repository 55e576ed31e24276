"""TFDS datasets: metadata -> ``DatasetInfo``, the splits to use and their checks (the
pipelines are in ``zoo.data.pipelines``, the catalog in ``zoo.data.catalog``).

Nothing here keeps a list of datasets: the features of the TFDS builder (read from its code or
its prepared metadata, no download) say whether a dataset is image or text classification, which
features hold the input and the label, and what the classes are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError, did_you_mean


@dataclass(frozen=True)
class DatasetInfo:
    """What the zoo knows of a dataset, and the facts a model builder needs."""

    name: str  # TFDS name, e.g. "cifar10"
    modality: str  # "image", "text" or "audio"
    input_key: str  # feature holding the input, e.g. "image", "text", "description"
    label_key: str  # feature holding the class label
    num_classes: int
    label_names: tuple[str, ...]
    input_shape: tuple  # model input: (H, W, C) images, (sequence_length,) text, (samples,) audio
    source_shape: tuple | None = None  # images as stored; None entries vary per example
    splits: dict = field(default_factory=dict)  # split name -> examples ({} if unknown)
    train_split: str = "train"  # TFDS split strings actually used
    val_split: str = ""
    test_split: str = "test"
    vocab_size: int = 0  # text: size of the fitted vocabulary
    data_dir: str | None = None
    notes: tuple[str, ...] = ()  # decisions the user is told about
    pair_key: str = ""  # sentence pairs: the second text feature (e.g. "sentence2"), else ""
    sample_rate: int = 0  # audio: samples per second (the clip length is input_shape[0])
    frontend: dict = field(default_factory=dict)  # audio: the log-mel front end's settings

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(
        cls, data: dict[str, Any], where: str = "dataset facts", fix: str = ""
    ) -> DatasetInfo:
        """The facts saved by ``to_json``; missing, unknown or malformed fields are a one-line
        ZooError naming ``where`` (the file) and ``fix``."""
        tail = f"; {fix}" if fix else ""
        names = {f.name for f in dataclasses.fields(cls)}
        needed = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        if not isinstance(data, dict) or needed - set(data) or set(data) - names:
            missing = sorted(needed - set(data)) if isinstance(data, dict) else ["all"]
            raise ZooError(f"{where} is corrupted (missing fields: {', '.join(missing)}){tail}")
        try:
            data = dict(data)
            for key in ("label_names", "input_shape", "notes"):
                data[key] = tuple(data.get(key) or ())
            if data.get("source_shape") is not None:
                data["source_shape"] = tuple(data["source_shape"])
            info = cls(**data)
            if len(info.label_names) != int(info.num_classes) or not info.input_shape:
                raise ValueError
        except (TypeError, ValueError):
            raise ZooError(f"{where} is corrupted (malformed fields){tail}") from None
        return info

    @classmethod
    def read(cls, path: Path, fix: str) -> DatasetInfo:
        """A saved dataset.json, through the one JSON reader."""
        from zoo.runs.rundir import read_json

        return cls.from_json(read_json(path, dict, fix), str(path), fix)


def reference_info(modality: str) -> DatasetInfo:
    """The stated reference input behind parameter counts: CIFAR-10 shape / IMDB-like text /
    one second of 16 kHz audio."""
    if modality == "image":
        return DatasetInfo(
            "reference",
            "image",
            "image",
            "label",
            10,
            tuple(str(i) for i in range(10)),
            (32, 32, 3),
            (32, 32, 3),
        )
    if modality == "audio":  # one second of 16 kHz speech, 12 keywords (Speech Commands)
        names = tuple(str(i) for i in range(12))
        return DatasetInfo(
            "reference", "audio", "audio", "label", 12, names, (16000,), sample_rate=16000
        )
    return DatasetInfo(
        "reference", "text", "text", "label", 2, ("neg", "pos"), (256,), vocab_size=20000
    )


# ---------------------------------------------------------------------------------------------
# Builders and metadata
# ---------------------------------------------------------------------------------------------


def get_builder(name: str, data_dir: str | None = None):
    """The TFDS builder for ``name``; unknown names raise ZooError with suggestions."""
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        known = tfds.list_builders(with_community_datasets=False)
        raise ZooError(
            f"unknown dataset {name!r}{did_you_mean(name, known)}; `zoo datasets` lists the "
            "ones the zoo can train on"
        ) from None
    except (ValueError, TypeError) as e:  # bad config name, malformed "name/config:version"
        raise ZooError(f"cannot open dataset {name!r}: {str(e).splitlines()[0]}") from None


def classify_features(builder) -> tuple[str, str, str, str]:
    """-> (modality, input_key, label_key, pair_key), or ZooError for datasets that are no
    classification. ``pair_key`` names the second text of sentence-pair datasets (GLUE MRPC,
    QNLI, MNLI ...: two text features and one class label, in their stored order), else ""."""
    import tensorflow_datasets as tfds

    feats = builder.info.features
    name = (
        builder.name
        if not builder.builder_config
        else f"{builder.name}/{builder.builder_config.name}"
    )
    keys = builder.info.supervised_keys
    pair_key = ""
    if keys and len(keys) >= 2 and all(isinstance(k, str) for k in keys[:2]):
        x_key, y_key = keys[0], keys[1]
    else:
        labels = [k for k, f in feats.items() if isinstance(f, tfds.features.ClassLabel)]
        kinds = (tfds.features.Image, tfds.features.Text, tfds.features.Audio)
        inputs = [k for k, f in feats.items() if isinstance(f, kinds)]
        texts = [k for k in inputs if isinstance(feats[k], tfds.features.Text)]
        if len(texts) == 2 and len(inputs) == 2 and len(labels) == 1:
            inputs, pair_key = texts[:1], texts[1]
        if len(labels) != 1 or len(inputs) != 1:
            kinds = ", ".join(f"{k} ({type(f).__name__})" for k, f in list(feats.items())[:6])
            raise ZooError(
                f"{name} is not a single-label image, text, audio or sentence-pair classification "
                f"dataset (features: {kinds}); detection, segmentation and regression datasets "
                "are not supported"
            )
        x_key, y_key = inputs[0], ("label" if "label" in labels else labels[0])
    x_feat, y_feat = feats[x_key], feats[y_key]
    if not isinstance(y_feat, tfds.features.ClassLabel):
        raise ZooError(
            f"{name} is not a classification dataset: its target {y_key!r} is "
            f"{type(y_feat).__name__}, not a class label (regression and segmentation are not supported)"
        )
    if isinstance(x_feat, tfds.features.Image) and len(x_feat.shape) == 3:
        return "image", x_key, y_key, pair_key
    if isinstance(x_feat, tfds.features.Text):
        return "text", x_key, y_key, pair_key
    if isinstance(x_feat, tfds.features.Audio) and len(x_feat.shape) == 1:
        return "audio", x_key, y_key, pair_key
    raise ZooError(
        f"{name} has {type(x_feat).__name__} inputs ({x_key!r}) of shape {x_feat.shape}; the zoo "
        "trains on images, text and mono audio"
    )


def _check_dataset_name(name: str) -> None:
    if not name or name.startswith(("/", ".")) or os.sep in name.replace("/", ""):
        raise ZooError(f"dataset must be a TFDS name such as cifar10 or imdb_reviews, got {name!r}")


def inspect(
    name: str,
    data_dir: str | None = None,
    *,
    image_size: int | None = None,
    val_fraction: float = 0.1,
    sequence_length: int = 256,
    clip_seconds: float | None = None,
    builder=None,
) -> DatasetInfo:
    """Read a dataset's metadata (no download) into a ``DatasetInfo`` with the splits to use."""
    _check_dataset_name(name)
    builder = builder or get_builder(name, data_dir)
    modality, x_key, y_key, pair_key = classify_features(builder)
    feats = builder.info.features
    label = feats[y_key]
    splits = {str(k): int(v.num_examples) for k, v in builder.info.splits.items()}
    notes: list[str] = []
    source_shape = tuple(feats[x_key].shape) if modality == "image" else None
    if modality == "image":
        h, w, c = source_shape
        if image_size:
            h = w = image_size
        elif h is None or w is None:
            h = w = 224
            notes.append("images vary in size: resized to 224x224 (set --image-size to change)")
        input_shape = (h, w, c or 3)
    elif modality == "audio":  # the clip length: given, or measured from train when prepared
        sample_rate = int(getattr(feats[x_key], "sample_rate", 0) or 16000)
        input_shape = (round(clip_seconds * sample_rate) if clip_seconds else None,)
    else:
        input_shape = (sequence_length,)
    unlabeled = (
        unlabeled_splits(builder, splits, y_key) if splits and is_prepared(builder) else set()
    )
    train, val, test = _choose_splits(splits, val_fraction, notes, unlabeled)
    return DatasetInfo(
        name=name,
        modality=modality,
        input_key=x_key,
        label_key=y_key,
        num_classes=label.num_classes,
        label_names=tuple(label.names),
        input_shape=input_shape,
        source_shape=source_shape,
        splits=splits,
        train_split=train,
        val_split=val,
        test_split=test,
        data_dir=data_dir,
        notes=tuple(notes),
        pair_key=pair_key,
        sample_rate=sample_rate if modality == "audio" else 0,
    )


def _choose_splits(
    splits: dict[str, int], val_fraction: float, notes: list[str], unlabeled: set[str] = frozenset()
):
    """-> (train, validation, test) split strings. Unlabeled splits are never chosen: when the
    test split is unlabeled, the labeled validation split becomes the test split and validation
    is carved from train. A dataset with neither a labeled test nor a validation split (e.g.
    spoken_digit) gets both carved from the end of train, disjoint and in stored order, so the
    final report never comes from the examples that picked the best epoch."""
    if splits and "train" not in splits:
        raise ZooError(f"dataset has no 'train' split (splits: {', '.join(splits)})")
    test_labeled = not splits or ("test" in splits and "test" not in unlabeled)
    if "validation" in splits and test_labeled:
        return "train", "validation", "test"
    if test_labeled or "validation" in splits:
        train, val = _carve(splits.get("train"), [1 - val_fraction])
        notes.append(f"no validation split: {val} of train held out for validation")
        if test_labeled:
            return train, val, "test"
        why = "is unlabeled" if "test" in splits else "is missing"
        notes.append(f"the test split {why}: final metrics are on the labeled 'validation' split")
        return train, val, "validation"
    train, val, test = _carve(splits.get("train"), [1 - 2 * val_fraction, 1 - val_fraction])
    notes.append(
        f"no validation or test split: {val} of train picks the best epoch and {test}, never "
        "trained on nor used for that choice, gives the final metrics"
    )
    return train, val, test


def _carve(n: int | None, cuts: list[float]) -> list[str]:
    """train split into consecutive pieces at the given fractions: by example counts when the
    size is known, TFDS percent slices otherwise."""
    marks = [str(round(n * c)) if n else f"{round(100 * c)}%" for c in cuts]
    edges = ["", *marks, ""]
    return [f"train[{a}:{b}]" for a, b in zip(edges[:-1], edges[1:])]


def is_prepared(builder) -> bool:
    return bool(builder.is_prepared())


def is_available(builder) -> bool:
    """Prepared, or served by TFDS's test mock (which reports datasets as unprepared)."""
    import tensorflow_datasets as tfds

    mocked = (
        getattr(tfds.core.DatasetBuilder.download_and_prepare, "__name__", "")
        == "mock_download_and_prepare"
    )
    return mocked or is_prepared(builder)


def unlabeled_splits(builder, info_splits: dict, label_key: str, probe: int = 64) -> set[str]:
    """Splits whose first examples all carry label -1 (e.g. GLUE test sets): never evaluated on.
    An 'unsupervised' split is unlabeled by name."""
    out = {s for s in info_splits if s == "unsupervised"}
    for split in info_splits:
        if split in out or split == "train":
            continue
        ds = builder.as_dataset(split=split).take(probe)
        labels = [int(ex[label_key]) for ex in ds.as_numpy_iterator()]
        if labels and all(v < 0 for v in labels):
            out.add(split)
    return out


def ensure_prepared(builder, download: bool = True) -> None:
    """Download and prepare the dataset if it is not prepared yet (offline: a clear error)."""
    if is_prepared(builder):
        return
    name = builder.name
    if not download:
        raise ZooError(
            f"dataset {name} is not prepared in {builder.data_dir}; prepare it from files you "
            f"downloaded by hand with `zoo data prepare {name} --from DIR`, or allow downloading"
        )
    try:
        with contextlib.redirect_stdout(sys.stderr):  # TFDS prints; stdout may carry --json
            builder.download_and_prepare()
    except Exception as e:  # network, checksum, manual-download datasets: all end the same way
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ZooError(
            f"dataset {name} is not prepared and could not be downloaded ({first}); on an offline "
            f"machine prepare it with `zoo data prepare {name} --from DIR` (or pass --data-dir)"
        ) from None


def prepare_offline(name: str, from_dir: str, data_dir: str | None = None) -> DatasetInfo:
    """Build a TFDS dataset from archives downloaded by hand, with TFDS's checksum validation."""
    import tensorflow_datasets as tfds

    src = Path(from_dir)
    if not src.is_dir():
        raise ZooError(f"--from {from_dir}: no such directory (it should hold {name}'s archives)")
    builder = get_builder(name, data_dir)
    classify_features(builder)
    if not is_prepared(builder):
        config = tfds.download.DownloadConfig(manual_dir=str(src), try_download_gcs=False)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # TFDS prints; stdout may carry --json
                builder.download_and_prepare(download_config=config)
        except Exception as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:240]
            raise ZooError(
                f"could not prepare {name} from {from_dir}: {first} (the directory must hold the "
                "files TFDS would download, unchanged)"
            ) from None
        builder = get_builder(name, data_dir)
    return inspect(name, data_dir, builder=builder)


# ---------------------------------------------------------------------------------------------
# tf.data pipelines
# ---------------------------------------------------------------------------------------------


def split_size(builder, info: DatasetInfo, split: str) -> int | None:
    """Examples ``split`` selects, checked before anything is read: an unknown name, a malformed
    or inverted slice, or an empty selection is a one-line error. None where the sizes are not
    known (a dataset served by TFDS's test mock)."""
    import tensorflow_datasets as tfds

    known = ", ".join(info.splits) or "unknown"
    if not split or not split.strip():
        raise ZooError(f"empty split for {info.name}; name one, e.g. 'train' (splits: {known})")
    sizes = _sizes(builder, split)
    try:
        pieces = tfds.core.ReadInstruction.from_spec(split).to_absolute(sizes)
        n = sum(_end(sizes, p) - (p.from_ or 0) for p in pieces)
    except (ValueError, KeyError, AssertionError, TypeError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ZooError(
            f"bad split {split!r} for {info.name}: {first} (splits: {known}; slices look like "
            "'train[:80%]' or 'train[1000:2000]')"
        ) from None
    if n <= 0:
        raise ZooError(
            f"split {split!r} of {info.name} selects no examples (an empty or inverted slice); "
            "the start must come before the end, e.g. 'train[10%:50%]'"
        )
    return n if builder.info.splits else None


def _sizes(builder, *splits: str):
    """The builder's split sizes; where they are unknown (mocked data), a nominal size for each
    split named, so percent slices still resolve and compare exactly."""
    if builder.info.splits:
        return builder.info.splits
    size = types.SimpleNamespace(num_examples=1_000_000)
    return {p.split("[")[0].strip(): size for s in splits for p in s.split("+")}


def _end(sizes, piece) -> int:
    return sizes[piece.splitname].num_examples if piece.to is None else piece.to


def overlap(builder, first: str, second: str) -> bool:
    """True when two split strings share examples ('train' and 'train[90%:]' do)."""
    import tensorflow_datasets as tfds

    sizes = _sizes(builder, first, second)

    def parts(split):  # (name, start, end) of each piece, open ends made explicit
        for p in tfds.core.ReadInstruction.from_spec(split).to_absolute(sizes):
            yield p.splitname, p.from_ or 0, _end(sizes, p)

    return any(
        a[0] == b[0] and max(a[1], b[1]) < min(a[2], b[2])
        for a in parts(first)
        for b in list(parts(second))
    )
