"""ONNX: converted with tf2onnx (opset 17) from the export graph, run with ONNX Runtime's CPU
provider. Keras 3's ``Model.export(format="onnx")`` goes through the same tf2onnx on the
TensorFlow backend but takes the bare model; converting the zoo's own graph keeps the image
scaling and the softmax inside the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError

NAME = "ONNX Runtime"
FILE = "model.onnx"
OPSET = 17  # ONNX's DFT/STFT arrived in 17


def missing() -> str | None:
    for module in ("tf2onnx", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            return module
    return None


def versions() -> dict[str, str]:
    import onnxruntime
    import tf2onnx

    return {"tf2onnx": tf2onnx.__version__, "onnxruntime": onnxruntime.__version__, "opset": OPSET}


def convert(fn, spec, model, folder: Path) -> list[str]:
    """Write FILE in ``folder``; the runtime loads it before it counts as converted (tf2onnx
    writes graphs ONNX Runtime rejects, e.g. an RFFT whose real and imaginary parts are used)."""
    import logging

    import tf2onnx

    quiet = logging.getLogger("tf2onnx")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its "Unsupported ops" lines: the error below says it once
    try:
        tf2onnx.convert.from_function(
            fn,
            input_signature=[spec],
            opset=OPSET,
            output_path=str(folder / FILE),
            custom_op_handlers={"Erfc": (_erfc, [])},
        )
    except Exception as e:  # the converter raises many types; name the op where it says one
        raise ZooError(_explain(str(e))) from None
    finally:
        quiet.setLevel(level)
    load(folder)
    return [FILE]


def quantize_missing() -> str | None:
    """The package int8 needs beyond ``missing()``: ``onnx`` (ONNX Runtime's quantizer edits the
    graph with it; tf2onnx brings it)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime.quantization  # noqa: F401
    except ImportError:
        return "onnx"
    return None


def quantize_int8(folder: Path, calibration: np.ndarray) -> None:
    """ONNX Runtime's static post-training quantization of FILE in ``folder``, in place: QDQ
    format, int8 weights per output channel, uint8 activations (the u8s8 kernels x86 runs with
    VNNI), ranges from min/max over ``calibration`` (graph inputs, batched by 32: min/max ranges
    do not depend on the batching)."""
    import logging
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self, name):
            x = calibration
            self.batches = iter([{name: x[i : i + 32]} for i in range(0, len(x), 32)])

        def get_next(self):
            return next(self.batches, None)

    path = Path(folder) / FILE
    name = _input_name(path)
    quiet = logging.getLogger()  # the quantizer logs its advice lines on the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:  # shape inference and graph fusions first, as ONNX Runtime advises
            quant_pre_process(str(path), str(prepared), skip_symbolic_shape=False)
        except Exception:  # a graph its symbolic shape inference cannot follow: quantize as is
            prepared = path
        try:
            quantize_static(
                str(prepared), str(Path(tmp) / FILE), Reader(name),
                quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, per_channel=True,
            )  # fmt: skip
        except Exception as e:
            first = (str(e).strip().splitlines() or ["quantizer error"])[0][:200]
            raise ZooError(
                f"ONNX Runtime cannot quantize this model ({first}); export it without "
                "--quantize, or as --format tflite --quantize int8"
            ) from None
        finally:
            quiet.setLevel(level)
        (Path(tmp) / FILE).replace(path)
    load(folder)


def _input_name(path: Path) -> str:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.input[0].name


def _erfc(ctx, node, name, args) -> None:
    """erfc(x) = 1 - erf(x): Keras's exact GELU (ViT, BERT, the Transformer) on TensorFlow
    calls Erfc, which tf2onnx has no handler for; ONNX has Erf."""
    from tf2onnx import utils

    x, out = node.input[0], node.output
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(x))
    erf = ctx.make_node("Erf", [x])
    one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
    ctx.remove_node(node.name)
    ctx.make_node("Sub", [one.output[0], erf.output[0]], outputs=out, name=node.name)


def _explain(message: str) -> str:
    first = (message.strip().splitlines() or ["converter error"])[0][:200]
    hint = "export it as --format savedmodel or tflite"
    if "RFFT" in message or "FFT" in message:
        return (
            "the ONNX converter (tf2onnx) cannot convert the audio front end's RFFT (the STFT's "
            f"real and imaginary parts are used, not only its magnitude); {hint}, or --format "
            "openvino"
        )
    return f"the ONNX converter cannot convert this model ({first}); {hint}"


def load(folder: Path):
    """A function: graph input (numpy) -> probabilities (numpy), through ONNX Runtime's CPU
    provider. A damaged or foreign file is one line."""
    import onnxruntime as ort

    path = Path(folder) / FILE
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # InvalidProtobuf, InvalidGraph, NoSuchFile: all end the same way
        raise ZooError(_load_error(path, str(e))) from None
    name = session.get_inputs()[0].name

    def run(x: Any) -> np.ndarray:
        return session.run(None, {name: np.asarray(x)})[0]

    return run


def _load_error(path: Path, message: str) -> str:
    if "RFFT" in message:
        return _explain(message)
    first = (message.strip().splitlines() or [""])[0][:160]
    return f"cannot load {path} with ONNX Runtime ({first}); export the run again"
