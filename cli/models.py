"""``zoo models``: list registered models; ``zoo models info NAME``: one model in full."""

from __future__ import annotations

import click

from cli._common import (
    FileListingGroup,
    ZooCommand,
    console,
    emit_json,
    json_option,
    pattern_option,
)


@click.group("models", cls=FileListingGroup, invoke_without_command=True)
@click.option("--modality", default=None, help="Only models that read image, text or audio.")
@pattern_option
@json_option
@click.pass_context
def models(ctx, modality, pattern, as_json):
    """List models: name, family, modality, parameters, FLOPs per example and description.

    Parameters and FLOPs (a multiply-add counts 2) are counted on a stated reference input: 32x32x3 images with 10 classes
    (CIFAR-10), or 256-token text with a 20,000-word vocabulary and 2 classes.

    \b
    Examples:
      zoo models
      zoo models 'resnet*'
      zoo models --modality text --json
      zoo models info resnet20

    The last column names the KerasHub presets with each variant's architecture, which
    `zoo train FAMILY --init-from PRESET` starts from.
    """
    if ctx.invoked_subcommand:
        return
    from rich.table import Table

    from zoo import api

    rows = api.model_rows(pattern, modality)
    if as_json:
        emit_json(rows)
        return
    table = Table("name", "family", "modalities", "parameters", "MFLOPs", "description")
    with_presets = any(r["presets"] for r in rows)
    if with_presets:
        table.add_column("KerasHub presets (--init-from)")
    for r in rows:
        name = f"{r['name']}{' *' if r['default'] else ''}"
        flops = f"{r['flops_per_example'] / 1e6:,.1f}"
        table.add_row(
            name,
            r["family"],
            ", ".join(r["modalities"]),
            f"{r['parameters']:,}",
            flops,
            r["description"],
            *([", ".join(r["presets"])] if with_presets else []),
        )
    out = console(False)
    out.print(table)
    out.print("* the variant a bare family name resolves to (e.g. `resnet` -> resnet20)")
    if with_presets:
        out.print(
            "KerasHub presets start a BERT or ViT from published weights: zoo train bert -d "
            "imdb_reviews --init-from bert_tiny_en_uncased (see README, Pretrained weights)"
        )


@models.command("info", cls=ZooCommand)
@click.argument("name")
@click.option(
    "--image-size",
    type=int,
    default=None,
    help="Count parameters and FLOPs at this square image size instead of 32.",
)
@click.option("--num-classes", type=int, default=None, help="Count with this many classes.")
@click.option("--vocab-size", type=int, default=None, help="Text: count with this vocabulary.")
@json_option
def info(name, image_size, num_classes, vocab_size, as_json):
    """Default architecture config, training recipe, parameters and FLOPs of one model.

    \b
    Examples:
      zoo models info resnet20
      zoo models info vit_base --image-size 224 --num-classes 1000   # the paper's ViT-B/16
      zoo models info bert_base --vocab-size 30522                   # BERT-Base's vocabulary
    """
    from zoo import api

    for flag, value in (
        ("--image-size", image_size),
        ("--num-classes", num_classes),
        ("--vocab-size", vocab_size),
    ):
        if value is not None and value < 1:
            raise click.BadParameter(f"must be positive, got {value}", param_hint=flag)
    data = api.model_info(
        name, image_size=image_size, num_classes=num_classes, vocab_size=vocab_size
    )
    if as_json:
        emit_json(data)
        return
    out = console(False)
    ref = data["reference_input"]
    out.print(f"{data['name']} ({data['family']}, {data['modality']}): {data['description']}")
    out.print(f"reference input {ref}")
    out.print(
        f"parameters {data['parameters']:,}   FLOPs per example {data['flops_per_example']:,}"
        " (a multiply-add counts 2)"
    )
    if data["presets"]:
        out.print(
            f"KerasHub presets of this architecture: {', '.join(data['presets'])} (zoo train "
            f"{data['family']} --init-from PRESET)"
        )
    out.print("architecture config (change with --set model.KEY=VALUE):")
    for k, v in data["config"].items():
        out.print(f"  {k} = {v}")
    recipes = [("default training recipe", data["recipe"])]
    if "pretrain_recipe" in data:
        recipes.append(("masked-LM pretraining recipe (zoo pretrain)", data["pretrain_recipe"]))
    for dataset, values in data.get("dataset_recipes", {}).items():
        out.print(
            f"recipe values for {dataset}: " + ", ".join(f"{k}={v}" for k, v in values.items())
        )
    for title, recipe in recipes:
        out.print(f"{title}:")
        for k, v in recipe.items():
            if k not in ("model", "dataset", "model_config"):
                out.print(f"  {k} = {v}")
