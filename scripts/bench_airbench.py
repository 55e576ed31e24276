"""airbench94's ablations: the default command and one piece taken out per row, each a full
CIFAR-10 run (about half an hour each on 2 cores), one after another, on an otherwise idle
machine. Prints a markdown table (test accuracy with TTA, wall time, share of the matmul peak)
and appends the runs' numbers to --out as JSON lines.

    TFDS_DATA_DIR=../shared/data/tfds python scripts/bench_airbench.py --runs-dir ~/zoo-runs \
        --rows default,no_lookahead --seeds 0
    python scripts/bench_airbench.py --tta-of ~/zoo-runs/airbench94-cifar10-s0

--tta-of RUN needs no training: it tests one trained run's network under each test-time
augmentation level (none, mirror, mirror + translate), the TTA rows of the ablation.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ZOO = [sys.executable, "-c", "import sys; from cli import main; main(sys.argv[1:], 'zoo')"]
# row: (what it takes out, extra flags)
ROWS = {
    "default": ("nothing", ()),
    "no_lookahead": ("lookahead", ("--set", "lookahead=0")),
    "no_label_smoothing": ("label smoothing", ("--label-smoothing", "0")),
    "no_whitening_init": (
        "the whitening fitted to data (a random frozen 2x2 conv)",
        ("--set", "model.whiten_init=random"),
    ),  # fmt: skip
    "no_bias_scaling": ("the 64x batch-norm bias group", ("--set", "model.bias_scaler=1")),
    "float32": ("bf16", ("--precision", "float32")),
    "xla": ("(adds) XLA", ("--xla", "on")),
    "flip": ("alternating flip (random flips instead)", ("--augment", "flip_crop")),
}


def tta_levels(run_dir: str) -> None:
    """Test accuracy of a trained run's network at each TTA level, in float32 (as evaluated)."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from zoo.data import datasets, pipelines, preprocess
    from zoo.export import loading
    from zoo.models import airbench
    from zoo.models.layers import TTA_VIEWS, TestTimeAugmentation
    from zoo.runs import rundir

    run = rundir.open_run(run_dir)
    info = loading.module_info(run)
    body = airbench.body_of(loading.as_float32(loading.load_keras_model(run)))
    builder = datasets.get_builder(info.name, run.config().get("data_dir"))
    test = pipelines.load_split(builder, info, info.test_split, role="test", smoke=False, seed=0)
    lines = ["| TTA | test accuracy |", "|---|---|"]
    for views in TTA_VIEWS:
        model = TestTimeAugmentation(body, views)
        right = total = 0
        for x, y in test.batch(500).as_numpy_iterator():
            logits = model(preprocess.prepare_images(x), training=False)
            right += int((np.asarray(logits).argmax(-1) == y).sum())
            total += len(y)
        lines.append(f"| {views} | {100 * right / total:.2f}% ({total} images) |")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tta-of", default=None, help="A trained run: its TTA rows only.")
    parser.add_argument("--runs-dir", type=Path)
    parser.add_argument("--rows", default="default")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", type=Path, default=Path("airbench-ablations.jsonl"))
    args = parser.parse_args()
    if args.tta_of:
        tta_levels(args.tta_of)
        return
    if args.runs_dir is None:
        parser.error("--runs-dir is required to train")
    lines = [
        "| row | takes out | seed | test acc (TTA) | wall s | share of peak |",
        "|---|---|---|---|---|---|",
    ]
    for row in args.rows.split(","):
        what, flags = ROWS[row]
        for seed in args.seeds.split(","):
            name = f"airbench94-{row}-s{seed}"
            command = [*ZOO, "train", "airbench94", "-d", "cifar10", "--seed", seed,
                       "--run-name", name, "--runs-dir", str(args.runs_dir), "--json", *flags]  # fmt: skip
            start = time.time()
            out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
            summary = json.loads(out.stdout)
            wall = time.time() - start
            c = summary.get("compute", {})
            record = {"row": row, "seed": int(seed), "test_accuracy": summary["test_accuracy"],
                      "process_wall_s": wall, "run_wall_s": summary["wall_time_s"], **c}  # fmt: skip
            with args.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            lines.append(f"| {row} | {what} | {seed} | {100 * summary['test_accuracy']:.2f}% | "
                         f"{wall:.0f} | {100 * c.get('share_of_peak', 0):.1f}% |")  # fmt: skip
            print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
