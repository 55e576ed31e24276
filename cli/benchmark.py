"""``zoo benchmark MODEL``: training and inference throughput."""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, data_dir_option, emit_json, json_option


@click.command("benchmark", cls=ZooCommand)
@click.argument("model")
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
    Examples:
      zoo benchmark cnn --dataset cifar10 --batch-size 64
      zoo benchmark resnet20 --precision mixed_float16 --xla on --json
    """
    from zoo import api

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
