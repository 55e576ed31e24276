"""The serving benchmark for the issue's six models: `zoo benchmark RUN --serving` on each, one
process per model, and one markdown table of all of them.

Speed does not depend on the weights, so each model gets a `--smoke` run (tiny splits, one
epoch, the full architecture and preprocessing) unless RUNS_DIR already holds MODEL-DATASET.
Pause any training first: this times the machine.

    TFDS_DATA_DIR=../shared/data/tfds python scripts/bench_serving.py --runs-dir /tmp/bench-runs \
        --out /tmp/serving.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

MODELS = (
    ("cnn", "cifar10"),
    ("resnet20", "cifar10"),
    ("vit_tiny", "cifar10"),
    ("lstm", "imdb_reviews"),
    ("bert_tiny", "imdb_reviews"),
    ("ds_cnn", "spoken_digit"),
)
ZOO = [sys.executable, "-c", "import sys; from cli import main; main(sys.argv[1:], 'zoo')"]


def run_for(model: str, dataset: str, runs_dir: Path) -> Path:
    run = runs_dir / f"{model}-{dataset}"
    if not (run / "model.keras").exists():
        subprocess.run([*ZOO, "train", model, "-d", dataset, "--smoke", "--no-download",
                        "--run-name", run.name, "--runs-dir", str(runs_dir)],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return run


def table(results: list[dict]) -> str:
    head = ("| model | runtime | batch-1 p50 ms | p99 ms | batch-64 /s | bulk /s (batch) | "
            "p50 vs keras | batch-64 vs keras | bulk vs keras |")  # fmt: skip
    lines = [head, "|" + "---|" * 9]
    for r in results:
        for name, row in r["runtimes"].items():
            lines.append(
                f"| {r['model']} | {name} ({row['note']}) | {row['batch1_p50_ms']:.2f} | "
                f"{row['batch1_p99_ms']:.2f} | {row['batch64_examples_per_s']:.0f} | "
                f"{row['bulk_examples_per_s']:.0f} ({row['bulk_batch']}) | "
                f"{row['p50_vs_keras']:.2f}x | {row['batch64_vs_keras']:.2f}x | "
                f"{row['bulk_vs_keras']:.2f}x |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/zoo-bench-serving"))
    parser.add_argument("--models", default=",".join(m for m, _ in MODELS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bulk", type=int, default=10_000)
    parser.add_argument("--runtimes", default=None, help="As zoo benchmark --runtimes (all).")
    parser.add_argument("--out", type=Path, default=None, help="Write all results as JSON.")
    args = parser.parse_args()
    wanted = args.models.split(",")
    results = []
    for model, dataset in MODELS:
        if model not in wanted:
            continue
        run = run_for(model, dataset, args.runs_dir)
        print(f"== {model} on {dataset}", file=sys.stderr, flush=True)
        out = subprocess.run(
            [*ZOO, "benchmark", str(run), "--serving", "--json", "--rounds", str(args.rounds),
             "--bulk", str(args.bulk),
             *(["--runtimes", args.runtimes] if args.runtimes else [])],
            check=True, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        results.append(json.loads(out.stdout))
        if args.out:
            args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
