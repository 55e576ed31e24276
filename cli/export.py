"""``zoo export RUN``: a SavedModel in the TF Serving layout."""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, emit_json, json_option


@click.command("export", cls=ZooCommand)
@click.argument("run_dir", type=click.Path())
@click.option("--output", "-o", "root", default="saved_models", show_default=True,
              envvar="ZOO_EXPORT_DIR", help="Export root; the model goes to ROOT/NAME/VERSION.")
@click.option("--name", default=None, help="Model name under the root (default: the run's name).")
@click.option("--version", "version", type=int, default=None,
              help="Version number (default: next free). An existing version is never overwritten.")
@click.option("--verify", is_flag=True,
              help="Reload the export and check it against the Keras model on test examples.")
@json_option
def export(run_dir, root, name, version, verify, as_json):
    """Export a trained run as a SavedModel for TF Serving.

    \b
    Signatures (images):
      serving_default  image_bytes: string [batch] of JPEG/PNG bytes
      serving_images   images: uint8 [batch, height, width, channels], any size
    Signatures (text):
      serving_default  text: string [batch]
    Outputs: probabilities, class_id, class_name. Labels and the run's config travel as
    assets (assets/labels.txt, assets/zoo.json).

    \b
    Examples:
      zoo export runs/cnn-fashion_mnist-20261126-101500 --verify
      zoo export runs/r20 --name resnet20_cifar --version 3
    """
    from zoo import api

    result = api.export(run_dir, root, name, version, verify, console=console(as_json))
    if as_json:
        emit_json(result)
        return
    out = console(False)
    out.print(f"signatures: {', '.join(result['signatures'])}")
    if result["verify"]:
        for sig, check in result["verify"].items():
            out.print(f"verified {sig}: {check['examples']} examples, max |diff| "
                      f"{check['max_abs_diff']:.2e}, same classes {check['same_class']}")
