"""A minimal Python client for a zoo export: sends image files (PNG/JPEG bytes) or, with --text,
raw strings, and prints class names.

Two ways to reach the model:
  * --export DIR : load the SavedModel in this process and call `serving_default` with the bytes
  * --url URL    : POST to TF Serving's REST API, e.g. http://127.0.0.1:8501/v1/models/NAME:predict
                   (the `image_bytes` input takes base64 as {"b64": ...}, thanks to its suffix)

    python scripts/client.py --export saved_models/cnn-fashion_mnist/1 shoe.png shirt.png
    python scripts/client.py --export saved_models/lstm-imdb/1 --text "A wonderful film."
"""

from __future__ import annotations

import argparse
import base64
import json
import urllib.request


def via_rest(url: str, blobs: list[bytes]) -> list[dict]:
    body = {
        "signature_name": "serving_default",
        "instances": [{"image_bytes": {"b64": base64.b64encode(b).decode()}} for b in blobs],
    }
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)["predictions"]


def via_savedmodel(export_dir: str, blobs: list[bytes], text: bool = False) -> list[dict]:
    import tensorflow as tf

    try:
        import tensorflow_text  # noqa: F401  (BERT exports tokenize with its ops)
    except ImportError:
        pass

    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    out = serve(text=tf.constant(blobs)) if text else serve(image_bytes=tf.constant(blobs))
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
    p.add_argument("--text", action="store_true", help="inputs are texts, not image files")
    p.add_argument("inputs", nargs="+", help="image files, or texts with --text")
    args = p.parse_args()
    if args.text:
        blobs = [t.encode("utf-8") for t in args.inputs]
    else:
        blobs = [open(path, "rb").read() for path in args.inputs]
    preds = (
        via_rest(args.url, blobs, args.text)
        if args.url
        else via_savedmodel(args.export, blobs, args.text)
    )
    for path, pred in zip(args.inputs, preds):
        name = pred["class_name"]
        print(
            f"{path}: {name.decode() if isinstance(name, bytes) else name} "
            f"({max(pred['probabilities']):.3f})"
        )


if __name__ == "__main__":
    main()
