"""``zoo doctor``: versions, devices, data directory and prepared datasets, each with a verdict."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def doctor(data_dir: str | None = None) -> dict[str, Any]:
    """Versions, devices, data directory and prepared datasets, each with a verdict. Makes no
    network requests: prepared datasets are found by reading the data directory."""
    checks = [*_versions(), *_devices(), *_data(data_dir)]
    return {"ok": all(c["ok"] for c in checks), "checks": checks}


def _check(name: str, value, ok, advice: str = "", note: str = "") -> dict[str, Any]:
    """One verdict: ``advice`` is shown when the check fails, ``note`` always."""
    return {
        "check": name,
        "value": value,
        "ok": bool(ok),
        "advice": note or ("" if ok else advice),
    }


def _versions() -> list[dict[str, Any]]:
    import keras
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from zoo import __version__

    py = platform.python_version()
    return [
        _check("python", py, tuple(map(int, py.split(".")[:2])) >= (3, 10), "use Python 3.10+"),
        _check("zoo", __version__, True),
        _check(
            "tensorflow",
            tf.__version__,
            tf.__version__.startswith("2.21"),
            "the zoo is tested with TensorFlow 2.21",
        ),
        _check(
            "keras", keras.__version__, keras.__version__.startswith("3."), "the zoo needs Keras 3"
        ),
        _check("tensorflow_datasets", tfds.__version__, True),
    ]


def _devices() -> list[dict[str, Any]]:
    import tensorflow as tf

    from zoo.training import distribute

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    tpus = [d.name for d in tf.config.list_logical_devices("TPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    devices = _check(
        "devices",
        {"CPU": len(cpus), "GPU": len(gpus), "TPU": len(tpus)},
        True,
        note="" if gpus or tpus else "no GPU/TPU visible: training runs on the CPU",
    )
    default = tf.distribute.get_strategy()
    auto = {m: distribute.resolve_precision("auto", default, m) for m in ("image", "text")}
    precision = _check(
        "precision_auto", auto, True, note="what --precision auto picks on this machine"
    )
    return [devices, precision]


def _data(data_dir: str | None) -> list[dict[str, Any]]:
    root = Path(
        data_dir or os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets"
    ).expanduser()
    folder = _check(
        "data_dir",
        str(root),
        root.is_dir(),
        "does not exist yet: `zoo data prepare` or a first download creates it",
    )
    # <root>/<name>[/<config>]/<version>/dataset_info.json: the name is all but the version.
    prepared = (
        sorted(
            {
                "/".join(p.parent.relative_to(root).parts[:-1])
                for p in root.glob("**/dataset_info.json")
                if "incomplete" not in str(p)
            }
        )
        if root.is_dir()
        else []
    )
    datasets = _check(
        "prepared_datasets",
        prepared,
        True,
        note=""
        if prepared
        else "none: datasets would be downloaded on first use, or prepare "
        "them offline with `zoo data prepare NAME --from DIR`",
    )
    return [folder, datasets]
