"""The catalog: which TFDS datasets the zoo can train on (image and text single-label
classification), read from builder code and local metadata only, never the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.data import datasets
from zoo.errors import ZooError

_SOURCE_MENTIONS_GCS: dict[str, bool] = {}


def reads_cloud_storage(cls) -> bool:
    """True for builders whose own code points at gs:// (robotics, RL Unplugged, ...): even
    their metadata lives in Google Cloud Storage, so the offline catalog scan skips them."""
    import inspect as _inspect

    for klass in cls.__mro__:
        module = klass.__module__
        if not module.startswith("tensorflow_datasets.") or module.startswith(
            "tensorflow_datasets.core"
        ):
            continue
        try:
            path = _inspect.getsourcefile(klass)
        except TypeError:
            continue
        if path and path not in _SOURCE_MENTIONS_GCS:
            _SOURCE_MENTIONS_GCS[path] = "gs://" in Path(path).read_text(errors="ignore")
        if path and _SOURCE_MENTIONS_GCS[path]:
            return True
    return False


def catalog(pattern: str | None = None, data_dir: str | None = None) -> list[dict[str, Any]]:
    """Image and text classification datasets of the TFDS catalog matching ``pattern``, read
    from builder code and local metadata only (no network)."""
    import fnmatch

    import tensorflow_datasets as tfds

    rows = []
    for name in tfds.list_builders(with_community_datasets=False):
        try:
            cls = tfds.builder_cls(name)
        except Exception:  # builders needing optional packages (pandas, ...) that are absent
            continue
        configs = [c.name for c in (getattr(cls, "BUILDER_CONFIGS", None) or [])]
        full = [f"{name}/{c}" for c in configs] or [name]
        wanted = [
            n
            for n in full
            if not pattern or fnmatch.fnmatch(n, pattern) or fnmatch.fnmatch(name, pattern)
        ]
        if not wanted or reads_cloud_storage(cls):
            continue
        for full_name in wanted:
            row = describe(full_name, data_dir)
            if row:
                rows.append(row)
    return rows


def describe(name: str, data_dir: str | None = None) -> dict[str, Any] | None:
    """One catalog row, or None when the dataset is not single-label classification."""
    try:
        builder = datasets.get_builder(name, data_dir)
        modality, x_key, y_key, pair_key = datasets.classify_features(builder)
    except ZooError:
        return None
    except Exception:  # a builder that cannot even describe itself offline
        return None
    label = builder.info.features[y_key]
    return {
        "name": name,
        "modality": modality,
        "input": f"{x_key}, {pair_key}" if pair_key else x_key,
        "label": y_key,
        "classes": int(label.num_classes),
        "prepared": datasets.is_prepared(builder),
        "splits": {str(k): int(v.num_examples) for k, v in builder.info.splits.items()},
        "version": str(builder.version),
    }


def dataset_info(name: str, data_dir: str | None = None) -> dict[str, Any]:
    """What the zoo reads from dataset ``name``, and whether (which version) it is prepared."""
    info = datasets.inspect(name, data_dir)
    row = describe(name, data_dir) or {}
    return {**info.to_json(), "prepared": row.get("prepared", False), "version": row.get("version")}


def prepare(name: str, from_dir: str, data_dir: str | None = None) -> dict[str, Any]:
    """``zoo data prepare``: build ``name`` from archives downloaded by hand; what was built."""
    info = datasets.prepare_offline(name, from_dir, data_dir)
    return {
        "dataset": name,
        "data_dir": data_dir,
        "modality": info.modality,
        "num_classes": info.num_classes,
        "splits": info.splits,
    }
