"""``zoo eval TARGET``: metrics of a run or an export on a dataset split."""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, data_dir_option, emit_json, json_option


@click.command("eval", cls=ZooCommand)
@click.argument("target", type=click.Path())
@click.option("--dataset", "-d", default=None, help="Default: the dataset it was trained on.")
@click.option("--split", default=None, help="TFDS split, e.g. test, validation, 'train[:10%]'.")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--smoke", is_flag=True, help="Only the first 64 examples.")
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write confusion.png (and curves.png for a run) into this directory.",
)
@click.option(
    "--tta",
    type=click.Choice(["none", "flip"]),
    default="none",
    show_default=True,
    help="Test-time augmentation: 'flip' averages each image's probabilities with its mirror's "
    "(images only; papers report one view, the default).",
)
@data_dir_option
@json_option
def eval_command(target, dataset, split, batch_size, smoke, plot_dir, tta, data_dir, as_json):
    """Evaluate TARGET (a run directory or an exported SavedModel).

    Prints loss, accuracy, top-5 accuracy (more than 5 classes), per-class precision, recall
    and F1, and the confusion matrix (rows: true class, columns: predicted). A SavedModel runs
    the program inside it: evaluate exports you trust (README, "Trust").

    \b
    Examples:
      zoo eval runs/cnn-fashion_mnist-20261126-101500
      zoo eval saved_models/cnn-fashion_mnist/1 --split test --json
      zoo eval saved_models/cnn-fashion_mnist/1 --plot plots/
      zoo eval runs/resnet20-cifar10-20261201-101500 --tta flip
    """
    from rich.table import Table

    from zoo import api
    from zoo.errors import ZooError

    if batch_size < 1:
        raise ZooError(f"--batch-size must be at least 1, got {batch_size}")
    report = api.evaluate(target, dataset, split, data_dir, batch_size, smoke, plot_dir, tta)
    if as_json:
        emit_json(report)
        return
    out = console(False)
    views = ", with flips" if tta == "flip" else ""
    line = (
        f"{report['kind']} {report['target']} on {report['dataset']} [{report['split']}{views}], "
        f"{report['examples']} examples: loss {report['loss']:.4f}  accuracy {report['accuracy']:.4f}"
    )
    if "top5_accuracy" in report:
        line += f"  top-5 {report['top5_accuracy']:.4f}"
    out.print(line + f"  macro F1 {report['macro_f1']:.4f}")
    per = Table("class", "precision", "recall", "f1", "support")
    for c in report["per_class"]:
        per.add_row(
            c["class"],
            f"{c['precision']:.3f}",
            f"{c['recall']:.3f}",
            f"{c['f1']:.3f}",
            str(c["support"]),
        )
    out.print(per)
    names = [c["class"] for c in report["per_class"]]
    cm = Table("true \\ predicted", *[n[:10] for n in names], title="confusion matrix")
    for name, row in zip(names, report["confusion_matrix"]):
        cm.add_row(name[:16], *map(str, row))
    out.print(cm)
