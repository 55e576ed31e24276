"""SavedModel export of a run in the TF Serving layout: ROOT/NAME/VERSION/, written to a hidden
folder and renamed when complete, optionally verified against the Keras model first. The
signatures are ``zoo.export.serving``'s."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo.data import datasets, pipelines
from zoo.errors import ZooError
from zoo.export import loading
from zoo.export.serving import (
    ServingModule,
    compare,
    load_saved_model,
    raw_batch,
    signature_inputs,
)
from zoo.runs import rundir
from zoo.runs.progress import default_console


def next_version(model_dir: Path) -> int:
    versions = (
        [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    )
    return max(versions, default=0) + 1


def version_folder(model_dir: Path, version: int | None) -> tuple[Path, int]:
    """(MODEL_DIR/VERSION, VERSION): the next free version unless one is given; an existing
    version is refused, never overwritten."""
    rundir.check_output_dir(model_dir, "--output")
    version = version if version is not None else next_version(model_dir)
    if version < 1:
        raise ZooError(f"--version must be a positive integer, got {version}")
    final = model_dir / str(version)
    if final.exists():
        raise ZooError(
            f"export {final} already exists; nothing was overwritten: pass another "
            "--version or leave it out to take the next free one"
        )
    return final, version


def write_export(module: ServingModule, final: Path, check=None) -> Any:
    """Write the SavedModel, optionally ``check`` it, and only then make it visible as
    ``final``: TF Serving never sees half an export or one that failed verification."""

    def fill(tmp: Path):
        module.write(tmp)
        return check(tmp) if check else None

    return rundir.write_dir_atomic(final, fill)


def export_run(
    run_dir: str | Path,
    root: str | Path = "saved_models",
    name: str | None = None,
    version: int | None = None,
    verify: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Write ``root/name/version/`` (TF Serving layout) from a run; never overwrites."""
    console = default_console(console)
    run = rundir.open_run(run_dir)
    name = name or run.name
    rundir.check_run_name(name)
    final, version = version_folder(Path(root) / name, version)
    with tempfile.TemporaryDirectory(prefix="zoo-assets-") as assets:
        module = loading.serving_module_for_run(run, Path(assets), exporting=True)
        check = _verifier(run, module) if verify else None
        result = write_export(module, final, check)
    out = {
        "export_dir": str(final),
        "name": name,
        "version": version,
        "signatures": module.signatures(),
        "modality": module.modality,
        "verify": result,
    }
    console.print(f"exported {run.name} -> {final}")
    return out


def _verifier(run, module: ServingModule):
    """``write_export``'s check: ``verify`` of the folder just written."""
    return lambda path: verify(run, module, path)


def verify(run, module: ServingModule, path: Path) -> dict[str, Any]:
    """Reload the written SavedModel and compare it with the Keras model on real examples."""
    info = loading.module_info(run)
    config = run.config()
    builder = datasets.get_builder(info.name, config.get("data_dir"))
    if not datasets.is_available(builder):
        raise ZooError(f"--verify needs {info.name}'s test split, which is not prepared here")
    raw = pipelines.load_split(builder, info, info.test_split, role="test", smoke=True, seed=0)
    xs = raw_batch(info, (x for x, _ in raw.take(32).as_numpy_iterator()))
    loaded = load_saved_model(str(path))
    expected = module.raw(xs)
    checks = {
        name: compare(expected, loaded.signatures[name](**signature_inputs(info, name, xs)))
        for name in module.signatures()
    }
    if not all(c["ok"] for c in checks.values()):
        raise ZooError(f"export verification failed ({checks}); nothing was written")
    return checks
