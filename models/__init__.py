"""The shipped models (NAME.tflite + NAME.json), installed as the package edge_runtime.models."""
