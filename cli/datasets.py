"""``zoo datasets [PATTERN]`` and ``zoo datasets info NAME``."""

from __future__ import annotations

import click

from cli._common import (
    PatternGroup,
    ZooCommand,
    console,
    data_dir_option,
    emit_json,
    json_option,
    pattern_option,
)


@click.group("datasets", cls=PatternGroup, invoke_without_command=True)
@data_dir_option
@pattern_option
@json_option
@click.pass_context
def datasets(ctx, data_dir, pattern, as_json):
    """List TFDS datasets the zoo can train on (single-label image or text classification),
    with modality, classes and whether they are prepared in the data directory.

    Reads builder code and local metadata only; builders whose metadata lives in Google Cloud
    Storage are skipped, so listing never touches the network.

    \b
    Examples:
      zoo datasets 'cifar*'
      zoo datasets --json
      zoo datasets info imdb_reviews
    """
    if ctx.invoked_subcommand:
        return
    from rich.table import Table

    from zoo import api

    rows = api.datasets(pattern, data_dir)
    if as_json:
        emit_json(rows)
        return
    table = Table("dataset", "modality", "classes", "input", "prepared")
    for r in rows:
        table.add_row(
            r["name"],
            r["modality"],
            str(r["classes"]),
            r["input"],
            "yes" if r["prepared"] else "no",
        )
    out = console(False)
    out.print(table)
    out.print(f"{len(rows)} datasets; prepare one offline with `zoo data prepare NAME --from DIR`")


@datasets.command("info", cls=ZooCommand)
@click.argument("name")
@data_dir_option
@json_option
def info(name, data_dir, as_json):
    """What the zoo reads from a dataset: modality, features, classes, splits and the splits it
    would train, validate and test on."""
    from zoo import api

    data = api.dataset_info(name, data_dir)
    if as_json:
        emit_json(data)
        return
    out = console(False)
    out.print(
        f"{data['name']} ({data['modality']}): input {data['input_key']!r}, label "
        f"{data['label_key']!r}, {data['num_classes']} classes, prepared: "
        f"{'yes' if data['prepared'] else 'no'}"
    )
    out.print(
        f"classes: {', '.join(data['label_names'][:20])}"
        f"{' ...' if len(data['label_names']) > 20 else ''}"
    )
    out.print(f"splits: {data['splits'] or 'unknown until prepared'}")
    out.print(
        f"train on {data['train_split']}, validate on {data['val_split']}, test on "
        f"{data['test_split']}"
    )
    for note in data["notes"]:
        out.print(f"note: {note}")
