"""Exports of a run and loading them back: a SavedModel in the TF Serving layout
(``savedmodel``, its graph in ``serving``), a TFLite file (``tflite``, run through ``litert``), a
KerasHub preset (``keras_hub``), ONNX and OpenVINO (``portable`` writes them from the graph and
reads them back through ``runtimes``; ``onnx`` and ``openvino`` convert and run), and any run or
export loaded as one prediction target (``loading``), so ``zoo predict`` and ``zoo eval`` take
every format; ``bench`` times them all side by side (``zoo benchmark RUN --serving``). Nothing is imported here, so ``import zoo.export`` stays cheap."""
