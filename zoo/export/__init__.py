"""Exports of a run: a SavedModel in the TF Serving layout (``savedmodel``, its graph in
``serving``) and a TFLite file (``tflite``, run through ``litert``). Nothing is imported here, so
``import zoo.export`` stays cheap."""
