"""What the run lifecycle costs per epoch: the atomic resume state (zoo.runs.checkpoints.save: weights
to a temporary file, rename, state.json, prune) against Keras's own BackupAndRestore save
(save_weights in place plus its metadata file), the atomic JSON write against a plain one, and
taking and releasing the run's lock. Alternating rounds in one process, medians printed.

    python scripts/bench_lifecycle.py --model resnet20 --rounds 15
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import keras

from zoo.config import TrainConfig
from zoo.data.datasets import reference_info
from zoo.models import registry
from zoo.runs import checkpoints, rundir
from zoo.tasks import get_task


def median_ms(fn, rounds: int) -> float:
    times = []
    for i in range(rounds + 1):
        t = time.perf_counter()
        fn(i)
        if i:  # round 0 warms up
            times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    spec = registry.get_spec(args.model)
    info = reference_info(spec.modality)
    model = registry.create_model(spec.name, info)
    config = TrainConfig(model=spec.name, dataset="reference")
    get_task("classify").compile(model, config, 100, jit=False)
    model.optimizer.build(model.trainable_variables)
    record = {"status": "running", "pid": 1, **{f"k{i}": "v" * 40 for i in range(30)}}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        keras_dir = root / "backup"
        keras_dir.mkdir()

        def keras_save(i):  # what BackupAndRestore does at each epoch end
            model.save_weights(str(keras_dir / "latest.weights.h5"), overwrite=True)
            (keras_dir / "training_metadata.json").write_text(json.dumps({"epoch": i}))

        rows = {
            "resume state, zoo (atomic, 2 kept)": lambda i: checkpoints.save(
                model, root / "ckpt", i + 1
            ),
            "resume state, Keras BackupAndRestore": keras_save,
            "run.json, atomic": lambda i: rundir.write_json(root / "run.json", record),
            "run.json, plain write": lambda i: (root / "plain.json").write_text(
                json.dumps(record, indent=2)
            ),
        }

        def lock(i):
            lock = rundir.RunLock(root / ".lock")
            lock.acquire("bench")
            lock.release()

        rows["lock: acquire + release"] = lock
        medians = {name: median_ms(fn, args.rounds) for name, fn in rows.items()}
    print(f"{spec.name}: {model.count_params():,} parameters, {args.rounds} rounds, medians")
    for name, ms in medians.items():
        print(f"  {name:40s} {ms:8.2f} ms")
    zoo_ms = medians["resume state, zoo (atomic, 2 kept)"]
    keras_ms = medians["resume state, Keras BackupAndRestore"]
    print(f"zoo / Keras resume-state time: {zoo_ms / keras_ms:.2f}x")
    extra = zoo_ms - keras_ms + medians["run.json, atomic"] - medians["run.json, plain write"]
    print(f"extra per epoch: {extra:.2f} ms (+ the lock, taken once per run)")


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    main()
