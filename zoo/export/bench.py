"""The serving benchmark: one run's model through every runtime, side by side in one process.

Contenders (each on its own graph input, prepared from the run's test examples before timing):
- ``keras``: the baseline, the run's model at its training precision called through a compiled
  ``tf.function`` (XLA as the run trained), what ``zoo benchmark`` times as inference.
- ``savedmodel``: the zoo's SavedModel export, reloaded, through its raw-input signature
  (uint8 images / waveforms / strings: text includes the in-graph tokenizer).
- ``tflite``: the float32 .tflite file on LiteRT's interpreter (the zoo's files take one
  example: a batch is that many invokes, as `zoo predict` runs them).
- ``onnx`` (ONNX Runtime, CPU) and ``openvino`` (CPU plugin, float32), where installed;
  ``onnx-int8``: that graph quantized by ONNX Runtime's static quantization on 300 training
  examples (speed only: its accuracy check is the export's).

Per round each contender runs batch-1 calls (latency), batch-64 calls (throughput) and one
pass over the bulk examples at its best batch (picked in the warm-up round); contenders take
turns within each round so they see the same machine load; round 0 warms up. Reported: p50/p99
latency over all timed calls, median throughputs over rounds, and ratios to ``keras``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from zoo.data import datasets, pipelines, preprocess
from zoo.data.datasets import DatasetInfo
from zoo.errors import ZooError
from zoo.export import litert, loading, runtimes, tflite
from zoo.export.serving import RAW_SIGNATURE, raw_batch, signature_inputs
from zoo.runs import rundir

RUNTIMES = ("keras", "savedmodel", "tflite", "onnx", "openvino", "onnx-int8")
BULK_BATCHES = (64, 256, 1024)


class Contender:
    """A runtime ready to time: ``call(lo, hi)`` runs examples lo..hi-1 of its input."""

    def __init__(self, name: str, fn: Callable[[Any], Any], feed: Any, note: str = ""):
        self.name, self.fn, self.feed, self.note = name, fn, feed, note
        self.bulk_batch = BULK_BATCHES[0]

    def call(self, lo: int, hi: int) -> None:
        self.fn(self.feed[lo:hi])


def _keras(run, info: DatasetInfo, feed) -> Contender:
    model = loading.load_keras_model(run)
    path = run.file(rundir.DISTRIBUTE)
    report = rundir.read_json(path, dict) if path.exists() else {}
    jit = bool(report.get("xla", False))
    fn, _ = runtimes.graph(model, info, jit_compile=jit)
    precision = report.get("precision", "float32")  # the layers keep the policy they trained in
    return Contender("keras", lambda x: fn(tf.constant(x)).numpy(), feed,
                     f"compiled call, {precision}, XLA {'on' if jit else 'off'}")  # fmt: skip


def _savedmodel(run, info: DatasetInfo, raw, tmp: Path) -> Contender:
    from zoo.export.savedmodel import write_export
    from zoo.export.serving import load_saved_model

    module = loading.serving_module_for_run(run, tmp / "assets", exporting=True)
    write_export(module, tmp / "savedmodel")
    name = RAW_SIGNATURE[info.modality]
    signature = load_saved_model(tmp / "savedmodel").signatures[name]

    def fn(batch):
        return signature(**signature_inputs(info, name, batch))["probabilities"].numpy()

    return Contender("savedmodel", fn, raw, f"{name}, float32")


def _tflite(model32, info: DatasetInfo, raw, vectorizer) -> Contender:
    interpreter = litert.Interpreter(tflite.convert(model32, info, "none"))
    feed = litert.preprocess_fn(info, vectorizer)(raw)
    return Contender("tflite", interpreter, feed, "float32")


def _portable(fmt: str, fn32, spec, model32, feed, tmp: Path, calibration=None) -> Contender:
    runtime = runtimes.backend(fmt)
    folder = tmp / (fmt if calibration is None else f"{fmt}-int8")
    folder.mkdir()
    runtime.convert(fn32, spec, model32, folder)
    if calibration is None:
        return Contender(fmt, runtime.load(folder), feed, "float32")
    missing = runtime.quantize_missing()
    if missing:
        raise ZooError(f"int8 needs {missing}: pip install 'zoo[onnx]'")
    runtime.quantize_int8(folder, calibration())
    return Contender(f"{fmt}-int8", runtime.load(folder), feed, "int8 (QDQ)")


def test_examples(run, info: DatasetInfo, n: int) -> np.ndarray:
    """Up to ``n`` raw test examples of the run's dataset (uint8 images, int16 clips, strings),
    as clients send them."""
    builder = datasets.get_builder(info.name, run.config().get("data_dir"))
    if not datasets.is_available(builder):
        raise ZooError(
            f"the serving benchmark feeds {info.name}'s test split, which is not prepared here "
            f"(see `zoo doctor`; `zoo data prepare {info.name} --from DIR` offline)"
        )
    raw = pipelines.load_split(builder, info, info.test_split, role="test", smoke=False, seed=0)
    xs = raw_batch(info, (x for x, _ in raw.take(n).as_numpy_iterator()))
    if len(xs) == 0:
        raise ZooError(f"{info.name}'s test split is empty")
    return xs


def contenders(run, info: DatasetInfo, raw, tmp: Path, formats=RUNTIMES, log=print) -> dict:
    """The runtimes of ``formats`` built from the run (exports written under ``tmp``); a
    runtime whose packages are missing or whose converter refuses the model is left out with
    a line saying why."""
    model32 = loading.as_float32(loading.load_keras_model(run))
    vectorizer = (
        preprocess.load_text_encoder(run.preprocessor_dir) if info.modality == "text" else None
    )
    graph_input = runtimes.client_prep(info, vectorizer)(raw)
    fn32, spec = runtimes.graph(model32, info)

    def calibrate():
        from zoo.export.portable import calibration_inputs

        return calibration_inputs(run, info, 300)

    build = {
        "keras": lambda: _keras(run, info, graph_input),
        "savedmodel": lambda: _savedmodel(run, info, raw, tmp),
        "tflite": lambda: _tflite(model32, info, raw, vectorizer),
        "onnx": lambda: _portable("onnx", fn32, spec, model32, graph_input, tmp),
        "openvino": lambda: _portable("openvino", fn32, spec, model32, graph_input, tmp),
        "onnx-int8": lambda: _portable("onnx", fn32, spec, model32, graph_input, tmp, calibrate),
    }
    out = {}
    for name in formats:
        log(f"preparing {name}...")
        try:
            out[name] = build[name]()
        except ZooError as e:
            if name == "keras":
                raise
            log(f"  {name} left out: {e}")
    return out


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _bulk(c: Contender, n: int, batch: int) -> float:
    return _timed(lambda: [c.call(lo, min(lo + batch, n)) for lo in range(0, n, batch)])


def measure(
    found: dict[str, Contender],
    n: int,
    rounds: int = 3,
    latency_calls: int = 100,
    batch: int = 64,
    log=print,
) -> dict[str, Any]:
    """Time every contender in turn for ``rounds`` rounds after a warm-up round."""
    latency = {k: [] for k in found}
    throughput = {k: [] for k in found}
    bulk = {k: [] for k in found}
    probe = min(n, 2048)
    for r in range(rounds + 1):
        for name, c in found.items():
            if r == 0:  # warm-up: traces, caches; and each runtime's best bulk batch
                c.call(0, 1)
                c.call(0, min(batch, n))
                speeds = {b: probe / _bulk(c, probe, b) for b in BULK_BATCHES if b <= max(n, 64)}
                c.bulk_batch = max(speeds, key=speeds.get)
                log(f"round 0 (warm-up): {name} bulk batch {c.bulk_batch}")
                continue
            for i in range(latency_calls):
                lo = i % n
                latency[name].append(_timed(lambda: c.call(lo, lo + 1)))
            batches = max(1, min(20, n // batch))
            seconds = _timed(lambda: [c.call(b * batch, (b + 1) * batch) for b in range(batches)])
            throughput[name].append(batches * min(batch, n) / seconds)
            bulk[name].append(n / _bulk(c, n, c.bulk_batch))
            log(f"round {r}: {name} p50 {1000 * statistics.median(latency[name]):.2f} ms, "
                f"batch {batch} {throughput[name][-1]:.0f}/s, bulk {bulk[name][-1]:.0f}/s")  # fmt: skip
    rows = {}
    for name, c in found.items():
        times = sorted(latency[name])
        rows[name] = {
            "note": c.note,
            "batch1_p50_ms": 1000 * statistics.median(times),
            "batch1_p99_ms": 1000 * times[min(len(times) - 1, int(0.99 * len(times)))],
            f"batch{batch}_examples_per_s": statistics.median(throughput[name]),
            "bulk_examples_per_s": statistics.median(bulk[name]),
            "bulk_batch": c.bulk_batch,
        }
    base = rows.get("keras")
    if base:
        for row in rows.values():
            row["p50_vs_keras"] = row["batch1_p50_ms"] / base["batch1_p50_ms"]
            row[f"batch{batch}_vs_keras"] = (
                row[f"batch{batch}_examples_per_s"] / base[f"batch{batch}_examples_per_s"]
            )
            row["bulk_vs_keras"] = row["bulk_examples_per_s"] / base["bulk_examples_per_s"]
    return rows


def serving(
    run_dir: str | Path,
    formats=RUNTIMES,
    rounds: int = 3,
    bulk: int = 10_000,
    latency_calls: int = 100,
    batch: int = 64,
    log=print,
) -> dict[str, Any]:
    """The serving benchmark of one run (see the module docstring)."""
    unknown = [f for f in formats if f not in RUNTIMES]
    if unknown:
        raise ZooError(f"unknown runtime {unknown[0]!r}; choose from {', '.join(RUNTIMES)}")
    if rounds < 1 or bulk < 1 or latency_calls < 1:
        raise ZooError("--rounds, --bulk and --latency-calls must be at least 1")
    formats = ("keras", *[f for f in formats if f != "keras"])
    run = rundir.open_run(run_dir)
    info = loading.module_info(run)
    raw = test_examples(run, info, bulk)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-serving-") as tmp:
        found = contenders(run, info, raw, Path(tmp), formats, log)
        rows = measure(found, len(raw), rounds, latency_calls, batch, log)
    return {
        "run": str(run.path),
        "model": run.record().get("model"),
        "dataset": info.name,
        "modality": info.modality,
        "examples": len(raw),
        "rounds": rounds,
        "latency_calls_per_round": latency_calls,
        "batch": batch,
        "runtimes": rows,
        "left_out": [f for f in formats if f not in rows],
    }
