"""A minimal Python client for a zoo export: sends image files (PNG/JPEG bytes) or, with --text,
raw strings (with --pairs, sentence pairs: the texts two at a time), and prints class names.

Two ways to reach the model:
  * --export DIR : load the SavedModel in this process and call `serving_default` with the bytes
  * --url URL    : POST to TF Serving's REST API, e.g. http://127.0.0.1:8501/v1/models/NAME:predict
                   (the `image_bytes` input takes base64 as {"b64": ...}, thanks to its suffix)

    python scripts/client.py --export saved_models/cnn-fashion_mnist/1 shoe.png shirt.png
    python scripts/client.py --export saved_models/lstm-imdb/1 --text "A wonderful film."
    python scripts/client.py --url http://127.0.0.1:8501/v1/models/bert_tiny-mrpc:predict \
        --pairs "He left at noon." "At noon he went away."
"""

from __future__ import annotations

import argparse
import base64
import json
import urllib.request
from pathlib import Path


def instances(inputs: list, kind: str) -> list[dict]:
    """serving_default's inputs, one dict per example: image_bytes, text, or text + text_pair."""
    if kind == "pairs":
        return [{"text": a, "text_pair": b} for a, b in zip(inputs[::2], inputs[1::2])]
    if kind == "text":
        return [{"text": t} for t in inputs]
    return [{"image_bytes": {"b64": base64.b64encode(b).decode()}} for b in inputs]


def via_rest(url: str, inputs: list, kind: str) -> list[dict]:
    body = {"signature_name": "serving_default", "instances": instances(inputs, kind)}
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)["predictions"]


def via_savedmodel(export_dir: str, inputs: list, kind: str) -> list[dict]:
    import tensorflow as tf

    try:
        import tensorflow_text  # noqa: F401  (BERT exports tokenize with its ops)
    except ImportError:
        pass

    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    rows = instances(inputs, kind) if kind != "image" else [{"image_bytes": b} for b in inputs]
    out = serve(**{k: tf.constant([r[k] for r in rows]) for k in rows[0]})
    return [
        {"class_name": n.decode(), "class_id": int(i), "probabilities": p.tolist()}
        for n, i, p in zip(
            out["class_name"].numpy(), out["class_id"].numpy(), out["probabilities"].numpy()
        )
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--export", help="SavedModel version directory")
    where.add_argument("--url", help="TF Serving REST predict URL")
    kinds = p.add_mutually_exclusive_group()
    kinds.add_argument("--text", action="store_true", help="inputs are texts, not image files")
    kinds.add_argument(
        "--pairs", action="store_true", help="inputs are sentence pairs, a b a b ..."
    )
    p.add_argument("inputs", nargs="+", help="image files, or texts with --text / --pairs")
    args = p.parse_args()
    kind = "pairs" if args.pairs else "text" if args.text else "image"
    if kind == "pairs" and len(args.inputs) % 2:
        p.error("--pairs takes an even number of texts: first text, second text, ...")
    inputs = (
        list(args.inputs) if kind != "image" else [Path(path).read_bytes() for path in args.inputs]
    )
    preds = (
        via_rest(args.url, inputs, kind) if args.url else via_savedmodel(args.export, inputs, kind)
    )
    labels = (
        [f"{a} | {b}" for a, b in zip(args.inputs[::2], args.inputs[1::2])]
        if kind == "pairs"
        else args.inputs
    )
    for path, pred in zip(labels, preds):
        name = pred["class_name"]
        print(
            f"{path}: {name.decode() if isinstance(name, bytes) else name} "
            f"({max(pred['probabilities']):.3f})"
        )


if __name__ == "__main__":
    main()
