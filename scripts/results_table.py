"""The results table: results/results.csv holds the reference runs (numbers and the command of
each, read from the runs by `zoo runs --format csv`); the README's table is generated from it.

    python scripts/results_table.py add runs/resnet20-cifar10-s0 --note "machine idle"
    python scripts/results_table.py add runs/sweep-cnn-cifar10   # every finished run of a sweep
    python scripts/results_table.py remove cnn-cifar10-s0   # a superseded reference run
    python scripts/results_table.py refresh    # reread the rows whose runs are in runs/ (notes kept)
    python scripts/results_table.py readme     # rewrite the README's table from the CSV
    python scripts/results_table.py check      # exit 1 when README and CSV disagree (CI test)
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zoo.runs import table

CSV = ROOT / "results" / "results.csv"
README = ROOT / "README.md"
COLUMNS = (*table.RESULT_COLUMNS, "notes")
SHOWN = ("model", "dataset", "epochs", "test_accuracy", "precision", "command")  # an empty CSV
START, END = "<!-- results:start -->", "<!-- results:end -->"


def read_rows() -> list[dict]:
    if not CSV.exists():
        return []
    return list(csv.DictReader(io.StringIO(CSV.read_text())))


def _seedless(command: str) -> str:
    return re.sub(r"\s--seed\s+\S+", "", command or "").strip()


def summary_rows(rows: list[dict]) -> list[dict]:
    """One row per model x dataset: the runs of one command (seeds apart) taken together, the
    default command's runs where there are any, else the command with the best median; in the
    CSV's order of first appearance."""
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for row in rows:
        key = (row["model"], row["dataset"])
        groups.setdefault(key, {}).setdefault(_seedless(row["command"]), []).append(row)
    out = []
    for (model, dataset), by_command in groups.items():
        default = f"zoo train {model} -d {dataset}"

        def median_of(runs):
            return statistics.median(float(r["test_accuracy"]) for r in runs)

        command = default if default in by_command else max(
            by_command, key=lambda c: median_of(by_command[c])
        )
        runs = by_command[command]
        accs = sorted(100 * float(r["test_accuracy"]) for r in runs)
        spread = f" ({accs[0]:.2f}-{accs[-1]:.2f})" if len(accs) > 1 else ""
        out.append({
            "model": model,
            "dataset": dataset,
            "test accuracy (median)": f"{statistics.median(accs):.2f}%{spread}",
            "seeds": str(len(runs)),
            "epochs": runs[0]["epochs"],
            "time per run": _duration(statistics.median(float(r["wall_time_s"]) for r in runs)),
            "precision": runs[0]["precision"],
            "command": command,
        })  # fmt: skip
    return out


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def readme_block(rows: list[dict]) -> str:
    summary = summary_rows(rows)
    columns = tuple(summary[0]) if summary else SHOWN
    return f"{START}\n{table.to_markdown(summary, columns)}{END}"


def current_block() -> str:
    text = README.read_text()
    return text[text.index(START) : text.index(END) + len(END)]


def _runs(path: Path) -> list[tuple[str, Path]]:
    """(row name, run directory): the run itself, or every finished run of a study folder
    (`zoo sweep`), named STUDY/trial-NNNN."""
    if (path / "study.json").is_file():
        found = [(f"{path.name}/{r['run']}", path / r["run"]) for r in table.result_rows(path)]
        if not found:
            raise SystemExit(f"{path}: a study with no finished, tested run")
        return found
    return [(path.name, path)]


def add(paths: list[str], note: str | None) -> None:
    """Rows read from the runs; a run already in the table keeps its note unless one is given."""
    rows = {r["run"]: r for r in read_rows()}
    for given in paths:
        for name, run in _runs(Path(given)):
            found = table.result_rows(run.parent, run.name)
            if not found:
                raise SystemExit(f"{given}: not a finished classification run")
            old = rows.get(name, {}).get("notes", "")
            rows[name] = {**found[0], "run": name, "notes": old if note is None else note}
    CSV.parent.mkdir(exist_ok=True)
    CSV.write_text(table.to_csv(list(rows.values()), COLUMNS))
    print(f"{CSV}: {len(rows)} rows")


def remove(names: list[str]) -> None:
    rows = {r["run"]: r for r in read_rows()}
    for name in names:
        if rows.pop(Path(name).name, None) is None:
            raise SystemExit(f"{name}: no such row in {CSV}")
    CSV.write_text(table.to_csv(list(rows.values()), COLUMNS))
    print(f"{CSV}: {len(rows)} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    adding = sub.add_parser("add")
    adding.add_argument("runs", nargs="+")
    adding.add_argument("--note", default=None)
    removing = sub.add_parser("remove")
    removing.add_argument("runs", nargs="+")
    refreshing = sub.add_parser("refresh")
    refreshing.add_argument("--runs-dir", default=str(ROOT / "runs"))
    sub.add_parser("readme")
    sub.add_parser("check")
    args = parser.parse_args()
    if args.action == "add":
        add(args.runs, args.note)
    elif args.action == "refresh":
        runs = [Path(args.runs_dir) / r["run"] for r in read_rows()]
        for run in runs:
            if not run.is_dir():
                print(f"{run.name}: no run directory in {run.parent}, row kept as it is")
        add([str(run) for run in runs if run.is_dir()], None)
    elif args.action == "remove":
        remove(args.runs)
    elif args.action == "readme":
        README.write_text(README.read_text().replace(current_block(), readme_block(read_rows())))
    elif current_block() != readme_block(read_rows()):
        raise SystemExit("README results table differs from results/results.csv: run readme")


if __name__ == "__main__":
    main()
