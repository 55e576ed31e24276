"""``zoo data prepare NAME --from DIR``: build a TFDS dataset offline."""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, data_dir_option, emit_json, json_option


@click.group("data")
def data():
    """Prepare datasets without network access."""


@data.command("prepare", cls=ZooCommand)
@click.argument("name")
@click.option(
    "--from",
    "from_dir",
    required=True,
    type=click.Path(),
    help="Directory holding the files TFDS would download (unchanged archives).",
)
@data_dir_option
@json_option
def prepare(name, from_dir, data_dir, as_json):
    """Build dataset NAME from archives downloaded by hand, with TFDS's own builder and
    checksum validation, and no network use.

    \b
    Example:
      zoo data prepare fashion_mnist --from ~/Downloads/fashion_mnist
    """
    from zoo import api

    result = api.prepare_data(name, from_dir, data_dir)
    if as_json:
        emit_json(result)
        return
    splits = ", ".join(f"{k} {v:,}" for k, v in result["splits"].items())
    console(False).print(
        f"prepared {name} ({result['modality']}, {result['num_classes']} classes): {splits}"
    )
