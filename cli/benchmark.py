"""``zoo benchmark MODEL``: training and inference throughput."""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, data_dir_option, emit_json, json_option

RUNTIMES = ("keras", "savedmodel", "tflite", "onnx", "openvino", "onnx-int8")  # as zoo.export.bench


@click.command("benchmark", cls=ZooCommand)
@click.argument("model")
@click.option(
    "--serving",
    is_flag=True,
    help="MODEL is a run: time its model through every runtime (Keras, SavedModel, TFLite, "
    "ONNX Runtime, OpenVINO) on its test examples, side by side.",
)
@click.option(
    "--runtimes",
    default=",".join(RUNTIMES),
    show_default=True,
    help="--serving: the runtimes to time, comma-separated (keras is always the baseline).",
)
@click.option("--rounds", type=int, default=3, show_default=True, help="--serving: timed rounds.")
@click.option(
    "--bulk", type=int, default=10_000, show_default=True, help="--serving: bulk examples."
)
@click.option(
    "--dataset",
    "-d",
    default=None,
    help="Use this dataset's shapes and classes (metadata only; default: reference input).",
)
@click.option("--batch-size", type=int, default=None, help="Default: the model's recipe.")
@click.option("--steps", type=int, default=50, show_default=True, help="Timed steps.")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed first steps.")
@click.option("--image-size", type=int, default=None)
@click.option("--precision", default="auto", show_default=True)
@click.option("--xla", default="auto", show_default=True)
@click.option("--strategy", default="auto", show_default=True)
@data_dir_option
@json_option
def benchmark(
    model,
    serving,
    runtimes,
    rounds,
    bulk,
    dataset,
    batch_size,
    steps,
    warmup,
    image_size,
    precision,
    xla,
    strategy,
    data_dir,
    as_json,
):
    """Measure training and inference throughput (examples/s), median step time and peak
    memory of MODEL on in-memory random data of the dataset's shapes.

    \b
    With --serving, MODEL is a run: its model is exported to every runtime in a temporary
    folder and timed on the run's test examples (batch-1 latency p50/p99, --batch-size
    throughput, bulk throughput at each runtime's best batch), as ratios to the compiled Keras
    call at the run's precision.

    \b
    Examples:
      zoo benchmark cnn --dataset cifar10 --batch-size 64
      zoo benchmark resnet20 --precision mixed_float16 --xla on --json
      zoo benchmark runs/cnn-cifar10-20260101-120000 --serving
      zoo benchmark runs/lstm-imdb --serving --runtimes keras,onnx --bulk 2000
    """
    from zoo import api

    if serving:
        return _serving(api, model, runtimes, rounds, bulk, batch_size or 64, as_json)
    result = api.benchmark(
        model, dataset, batch_size, steps, warmup, data_dir, image_size, precision, xla, strategy
    )
    if as_json:
        emit_json(result)
        return
    out = console(False)
    s = result["strategy"]
    out.print(
        f"{result['model']} on {result['dataset']} shapes {result['input_shape']}, batch "
        f"{result['batch_size']}, {s['strategy']} ({s['replicas']} replica(s)), precision "
        f"{s['precision']}, XLA {'on' if s['xla'] else 'off'}"
    )
    out.print(
        f"train: {result['train_examples_per_s']:.0f} examples/s, median step "
        f"{result['train_median_step_ms']:.2f} ms ({result['steps']} steps)"
    )
    out.print(
        f"infer: {result['infer_examples_per_s']:.0f} examples/s, median batch "
        f"{result['infer_median_batch_ms']:.2f} ms"
    )
    out.print(
        f"training {result['train_flops_per_s'] / 1e9:.1f} GFLOP/s (3 x "
        f"{result['flops_per_example'] / 1e6:.1f} MFLOPs per example), "
        f"{100 * result['share_of_peak']:.1f}% of this machine's {result['matmul_peak_dtype']} "
        f"matmul peak ({result['matmul_peak_flops_per_s'] / 1e9:.0f} GFLOP/s, measured now)"
    )
    out.print(
        f"peak host memory {result['host_peak_rss_mb']:.0f} MB"
        + (f", GPU {result['gpu_peak_mb']}" if "gpu_peak_mb" in result else "")
    )


def _serving(api, run, runtimes, rounds, bulk, batch, as_json):
    from rich.table import Table

    names = tuple(r.strip() for r in runtimes.split(",") if r.strip())
    out = console(as_json)
    result = api.benchmark(
        run, names, serving=True, rounds=rounds, bulk=bulk, batch=batch, log=out.print
    )
    if as_json:
        emit_json(result)
        return
    table = Table(title=f"{result['model']} on {result['dataset']}: {result['examples']} test "
                  f"examples, {result['rounds']} rounds (medians)")  # fmt: skip
    for column in ("runtime", "batch-1 p50 ms", "p99 ms", f"batch-{batch} /s", "bulk /s",
                   "bulk batch", "p50 vs keras", f"batch-{batch} vs keras", "bulk vs keras"):  # fmt: skip
        table.add_column(column, justify="left" if column == "runtime" else "right")
    for name, row in result["runtimes"].items():
        table.add_row(
            f"{name} ({row['note']})",
            f"{row['batch1_p50_ms']:.2f}",
            f"{row['batch1_p99_ms']:.2f}",
            f"{row[f'batch{batch}_examples_per_s']:.0f}",
            f"{row['bulk_examples_per_s']:.0f}",
            str(row["bulk_batch"]),
            f"{row['p50_vs_keras']:.2f}x",
            f"{row[f'batch{batch}_vs_keras']:.2f}x",
            f"{row['bulk_vs_keras']:.2f}x",
        )
    out.print(table)
