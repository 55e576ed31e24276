"""OpenVINO: ``openvino.convert_model`` on the export graph (its TensorFlow front end), saved as
IR (model.xml + model.bin), run with the CPU plugin at float32 precision (on CPUs with bf16 the
plugin would otherwise infer in bf16, outside the 1e-4 check)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError

NAME = "OpenVINO"
FILES = ("model.xml", "model.bin")
CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def missing() -> str | None:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "openvino"
    return None


def versions() -> dict[str, str]:
    import openvino

    return {"openvino": openvino.__version__}


def convert(fn, spec, model, folder: Path) -> list[str]:
    import openvino as ov

    try:
        converted = ov.convert_model(fn)
    except Exception as e:  # OpConversionFailure and friends: name the op it could not convert
        raise ZooError(_explain(str(e))) from None
    ov.save_model(converted, str(folder / FILES[0]), compress_to_fp16=False)
    return list(FILES)


def _explain(message: str) -> str:
    ops = re.findall(r"No conversion rule found for operations: ([^\n]+)", message)
    what = f"the op {ops[0].strip()}" if ops else "an op"
    why = " (the loop of a recurrent layer)" if ops and "TensorList" in ops[0] else ""
    return (
        f"OpenVINO's converter has no rule for {what}{why}; export this model as --format "
        "onnx, savedmodel or tflite"
    )


def load(folder: Path):
    """A function: graph input (numpy) -> probabilities (numpy), on the CPU plugin."""
    import openvino as ov

    path = Path(folder) / FILES[0]
    try:
        compiled = ov.Core().compile_model(str(path), "CPU", CONFIG)
    except Exception as e:  # a damaged IR: parse errors of several kinds
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise ZooError(
            f"cannot load {path} with OpenVINO ({first}); export the run again"
        ) from None
    request = compiled.create_infer_request()

    def run(x: Any) -> np.ndarray:
        return np.asarray(request.infer([np.asarray(x)])[compiled.outputs[0]])

    return run
