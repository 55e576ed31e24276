"""How fast the listings answer: `zoo models --json` and `zoo runs --json` against `zoo --help`,
each a fresh process, alternating, median of N. The listings read tables and files only (no
TensorFlow import, no model built), so they should cost about what --help costs.

    python scripts/bench_cli_startup.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "zoo --help": ["--help"],
    "zoo models --json": ["models", "--json"],
    "zoo runs --json": ["runs", "--json"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", "from cli import main; main()", *argv],
                check=True,
                capture_output=True,
            )
            times[name].append(time.perf_counter() - start)
    help_s = statistics.median(times["zoo --help"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:20s} median {median:.3f} s  ({median / help_s:.2f}x --help)")


if __name__ == "__main__":
    main()
