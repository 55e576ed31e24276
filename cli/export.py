"""``zoo export RUN``: a SavedModel in the TF Serving layout."""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, emit_json, json_option


@click.command("export", cls=ZooCommand)
@click.argument("run_dir", type=click.Path())
@click.option(
    "--output",
    "-o",
    "root",
    default="saved_models",
    show_default=True,
    envvar="ZOO_EXPORT_DIR",
    help="Export root; the model goes to ROOT/NAME/VERSION.",
)
@click.option("--name", default=None, help="Model name under the root (default: the run's name).")
@click.option(
    "--version",
    "version",
    type=int,
    default=None,
    help="Version number (default: next free). An existing version is never overwritten.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Reload the export and check it against the Keras model on test examples.",
)
@click.option(
    "--format",
    "fmt",
    default="savedmodel",
    show_default=True,
    help="savedmodel (TF Serving), tflite (LiteRT, for phones and edge devices), onnx (ONNX "
    "Runtime, Triton), openvino (Intel CPUs) or keras-hub (a KerasHub preset of a BERT or ViT "
    "run: backbone and tokenizer). onnx and openvino write ROOT/NAME/FORMAT/VERSION/.",
)
@click.option(
    "--quantize",
    default="none",
    show_default=True,
    help="tflite: none | dynamic | float16 | int8; onnx: none | int8 (ONNX Runtime). Post-training "
    "quantization, checked on the test split.",
)
@click.option(
    "--calibration-examples",
    type=int,
    default=200,
    show_default=True,
    help="int8 (tflite, onnx): training examples used to calibrate activations.",
)
@click.option(
    "--max-drop",
    type=float,
    default=0.01,
    show_default=True,
    help="onnx int8: the largest test-accuracy loss accepted (a fraction), else refused.",
)
@click.option("--force", is_flag=True, help="onnx int8: keep it even above --max-drop.")
@click.option("--int8-io", is_flag=True, help="tflite int8: integer input and output tensors too.")
@click.option(
    "--eval-examples",
    type=int,
    default=None,
    help="tflite, onnx int8: check on the first N test examples (default: the whole split).",
)
@click.option(
    "--select-tf-ops",
    is_flag=True,
    help="tflite: allow TensorFlow ops the builtins lack (needs the Flex delegate).",
)
@json_option
def export(
    run_dir,
    root,
    name,
    version,
    verify,
    fmt,
    quantize,
    calibration_examples,
    max_drop,
    force,
    int8_io,
    eval_examples,
    select_tf_ops,
    as_json,
):
    """Export a trained run as a SavedModel for TF Serving.

    \b
    Signatures (images):
      serving_default  image_bytes: string [batch] of JPEG/PNG bytes
      serving_images   images: uint8 [batch, height, width, channels], any size
    Signatures (text):
      serving_default  text: string [batch]
    Outputs: probabilities, class_id, class_name. Labels and the run's config travel as
    assets (assets/labels.txt, assets/zoo.json).

    With --format keras-hub, writes ROOT/NAME/keras-hub/, a preset that
    keras_hub.models.BertBackbone.from_preset (or ViTBackbone) loads; the export is reloaded
    and its outputs compared with the run's.

    With --format tflite, writes ROOT/NAME/tflite-QUANTIZE/ (model.tflite, labels.txt,
    zoo.json, report.json) and reports size, test accuracy through the TFLite interpreter next to
    the float SavedModel's, their agreement and latency per example.

    With --format onnx or openvino, writes ROOT/NAME/FORMAT/VERSION/ (model.onnx, or
    model.xml + model.bin; labels.txt; preprocessor/ for text; zoo-export.json with classes,
    input, preprocessing, the source run and sha256 of every file). Inputs: uint8 images at the
    model's size, float32 waveforms of the clip length, or int32 token ids. --verify runs it
    through ONNX Runtime or OpenVINO's CPU plugin on test examples: probabilities within 1e-4 of
    Keras and the same top-1, or nothing is written. --format onnx --quantize int8 quantizes
    with ONNX Runtime on --calibration-examples training inputs into ROOT/NAME/onnx-int8/VERSION/
    and checks test accuracy against float Keras: a drop above --max-drop is refused unless
    --force.

    \b
    Examples:
      zoo export runs/cnn-fashion_mnist-20261126-101500 --verify
      zoo export runs/r20 --name resnet20_cifar --version 3
      zoo export runs/cnn-fashion_mnist --format tflite --quantize int8
      zoo export runs/bert-mlm --format keras-hub
      zoo export runs/cnn-fashion_mnist --format onnx --verify       # ONNX Runtime checks it
      zoo export runs/cnn-fashion_mnist --format openvino --verify
      zoo export runs/resnet20-cifar10 --format onnx --quantize int8   # checked on the test split
    """
    from zoo import api
    from zoo.errors import ZooError

    if fmt == "tflite":
        result = api.export_tflite(
            run_dir,
            root,
            name,
            quantize=quantize,
            calibration_examples=calibration_examples,
            int8_io=int8_io,
            eval_examples=eval_examples,
            select_tf_ops=select_tf_ops,
            console=console(as_json),
        )
        if as_json:
            emit_json(result)
        else:
            console(False).print(
                f"size {result['tflite_bytes']:,} bytes ({result['size_ratio']}x smaller than the "
                f"SavedModel); accuracy {result['tflite_accuracy']:.4f} vs SavedModel "
                f"{result['savedmodel_accuracy']:.4f} on {result['examples']} examples, agreement "
                f"{result['agreement']:.4f}; {result['tflite_ms_per_example']:.3f} ms/example vs "
                f"{result['savedmodel_ms_per_example']:.3f}"
            )
        return
    if fmt not in ("savedmodel", "keras-hub", "onnx", "openvino"):
        raise ZooError(
            f"unknown --format {fmt!r}; choose savedmodel, tflite, onnx, openvino or keras-hub"
        )
    if quantize != "none" and fmt != "onnx":
        raise ZooError("--quantize applies to --format tflite and onnx")
    if fmt == "keras-hub":
        if version is not None:  # (the preset is always reloaded and compared: --verify or not)
            raise ZooError("--version applies to --format savedmodel")
        result = api.export_keras_hub(run_dir, root, name)
        if as_json:
            emit_json(result)
            return
        out = console(False)
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in result["max_abs_diff"].items())
        out.print(f"wrote KerasHub preset {result['preset']} (reloaded; max |diff| {diffs})")
        for note in result["notes"]:
            out.print(f"note: {note}")
        out.print(f"load it with {result['load_with']}")
        return
    options = {}
    if fmt == "onnx":
        options = dict(quantize=quantize, calibration_examples=calibration_examples,
                       eval_examples=eval_examples, max_drop=max_drop, force=force)  # fmt: skip
    result = api.export(
        run_dir, root, name, version, verify, console=console(as_json), fmt=fmt, **options
    )
    if as_json:
        emit_json(result)
        return
    out = console(False)
    if fmt in ("onnx", "openvino"):
        check = result["verify"]
        if check and result.get("quantize") == "int8":
            return  # its accuracy line is printed by the export
        if check:
            out.print(
                f"verified with {fmt}'s runtime: {check['examples']} test examples, max |diff| "
                f"{check['max_abs_diff']:.2e}, top-1 agreement {check['top1_agreement']:.3f}"
            )
        return
    out.print(f"signatures: {', '.join(result['signatures'])}")
    if result["verify"]:
        for sig, check in result["verify"].items():
            out.print(
                f"verified {sig}: {check['examples']} examples, max |diff| "
                f"{check['max_abs_diff']:.2e}, same classes {check['same_class']}"
            )
