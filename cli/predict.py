"""``zoo predict TARGET INPUT...``: top-k classes for image files, WAV files or texts."""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, emit_json, json_option


@click.command("predict", cls=ZooCommand)
@click.argument("target", type=click.Path())
@click.argument("inputs", nargs=-1, required=True)
@click.option("--top-k", "-k", type=int, default=5, show_default=True)
@json_option
def predict(target, inputs, top_k, as_json):
    """Classify image files (image models), WAV files (audio models) or texts (text models) with
    TARGET, a run directory or an export. Images are decoded and resized as in training; WAV
    files must have the sample rate the model was trained at (mono or the first channel) and
    are cut or padded to its clip length. Sentence-pair models (trained on glue/mrpc, ...) take
    the texts two at a time: first text, second text, and so on.

    Trust: a SavedModel is a program, and loading one runs the program inside it, so only
    predict with exports you made or trust. A run directory is the safer path: its model.keras
    loads with Keras safe_mode on, which refuses code (Lambda layers) in the file.

    \b
    Examples:
      zoo predict runs/cnn-fashion_mnist-20261126-101500 shoe.png shirt.jpg
      zoo predict runs/ds_cnn-spoken_digit three.wav seven.wav -k 3
      zoo predict saved_models/lstm-imdb_reviews "A wonderful, moving film." -k 2
      zoo predict runs/bert_tiny-mrpc "He left at noon." "At noon he went away." -k 1
    """
    from zoo import api

    results = api.predict(target, inputs, top_k)
    if as_json:
        emit_json(results)
        return
    out = console(False)
    for r in results:
        text = r["input"] if isinstance(r["input"], str) else " | ".join(r["input"])
        label = text if len(text) < 60 else text[:57] + "..."
        tops = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top"])
        out.print(f"{label}: {tops}")
