"""The LiteRT (TFLite) runtime side: run a .tflite file and feed it the model's input.

The .tflite model takes the *preprocessed* input: float32 images in [0, 1] of the model's size
(or, with ``--int8-io``, raw uint8/int8 pixels) and int32 token ids for text. The zoo applies
the same preprocessing as training before calling the interpreter (resize and scale for images;
the run's TextVectorization vocabulary, shipped beside the file, for text): TFLite's builtin
ops have no string tokenizer, so keeping it outside keeps the file runnable on plain LiteRT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.data import preprocess
from zoo.data.datasets import DatasetInfo
from zoo.errors import ZooError

QUANTIZE = ("none", "dynamic", "float16", "int8")
MODEL_FILE, REPORT_FILE = "model.tflite", "report.json"


class Interpreter:
    """Runs a .tflite file one example at a time, handling quantized inputs and outputs."""

    def __init__(self, content: bytes | str | Path):
        if isinstance(content, (str, Path)):
            content = Path(content).read_bytes()
        try:
            self.interpreter = _interpreter_class()(model_content=content, num_threads=2)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ZooError(
                f"cannot load the TFLite model ({str(e).splitlines()[0][:120]}); "
                "it may need --select-tf-ops or be corrupted"
            ) from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for x in np.asarray(batch):
            self.interpreter.set_tensor(self.input["index"], self._quantize(x[None]))
            self.interpreter.invoke()
            out.append(self._dequantize(self.interpreter.get_tensor(self.output["index"]))[0])
        return np.stack(out) if out else np.zeros((0, 0), np.float32)

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        scale, zero = self.input["quantization"]
        if dtype in (np.uint8, np.int8) and scale:
            info = np.iinfo(dtype)
            return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        return x.astype(dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        scale, zero = self.output["quantization"]
        if self.output["dtype"] in (np.uint8, np.int8) and scale:
            return (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)


def _interpreter_class():
    """LiteRT's interpreter (ai-edge-litert), the maintained successor of tf.lite.Interpreter,
    which TensorFlow now marks deprecated; tf.lite's where LiteRT is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter
    except ImportError:
        return tf.lite.Interpreter
    return LiteRTInterpreter


def preprocess_fn(info: DatasetInfo, vectorizer=None):
    """raw batch (uint8 images of any size / int16 clips / strings) -> the .tflite model's
    input (float32 images in [0, 1], float32 waveforms in [-1, 1], int32 token ids)."""
    if info.modality == "audio":
        return lambda batch: preprocess.prepare_audio(np.asarray(batch, np.int16)).numpy()
    if info.modality == "image":
        size = tuple(info.input_shape[:2])

        def images(batch):
            batch = tf.convert_to_tensor(batch, tf.uint8)
            if tuple(batch.shape[1:3]) != size:
                batch = preprocess.resize_image(batch, size)
            return preprocess.prepare_images(batch).numpy()

        return images
    return lambda batch: vectorizer(tf.convert_to_tensor(batch, tf.string)).numpy().astype(np.int32)
