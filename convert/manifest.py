"""Build the ``NAME.json`` manifest of a converted model and ship the bundle atomically (when a
bundle may replace the one in place: :mod:`convert.replacement`)."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

from convert.compare import Comparison
from edge_runtime.interpreter.bundle import (MANIFEST_SCHEMA_VERSION, PIXEL_CONVENTION,
                                             manifest_path)
from edge_runtime.interpreter.tensors import TensorSpec
from edge_runtime.labels import FASHION_MNIST_LABELS
from edge_runtime.media.atomic_files import write_bytes_atomic, write_text_atomic

QUANTIZATION_NOTES = {
    "float32": "no quantization",
    "float16": "weights stored as float16, computed in float32",
    "dynamic": "dynamic-range: int8 weights, float32 activations quantized at run time",
    "int8": "full-integer: int8 weights and activations, uint8 input and output",
}
FMNIST_INPUT = {"pixel_convention": PIXEL_CONVENTION, "value_range": [0, 255],
                "normalisation": "inside the model (x / 255)"}
PHOTO_INPUT = {"pixel_convention": "RGB photo, the whole picture letterboxed into the input "
               "(centred on grey 127, aspect kept)", "value_range": [0, 255],
               "normalisation": "inside the model ((x - 127) / 128)"}


def comparison_metrics(comparison: Comparison) -> dict:
    """A comparison's figures as the manifest records them."""
    return {
        "n_images": comparison.n,
        "keras_accuracy": round(comparison.reference_accuracy, 6),
        "tflite_accuracy": round(comparison.candidate_accuracy, 6),
        "drop_pp": comparison.drop_pp,
        "drop_ci95_pp": list(comparison.drop_ci95_pp),
        "worst_class": comparison.worst_class,
        "worst_class_drop_pp": comparison.worst_class_drop_pp,
        "per_class_drop_pp": comparison.per_class_drop_pp,
        "top1_agreement_with_keras": round(comparison.agreement, 6),
    }


def build_manifest(
    *,
    name: str,
    mode: str,
    model_bytes: bytes,
    input_spec: TensorSpec,
    output_spec: TensorSpec,
    input_meaning: dict,
    model_info: dict,
    dataset: str,
    comparison: Comparison,
    parts: dict[str, Comparison],
    tolerances: dict[str, float],
    calibration: dict | None,
    provenance: dict,
    evaluated_with: str,
    runtimes: dict[str, dict],
) -> dict:
    """Everything a device needs to use the model safely, and how it was measured. Nothing in
    it depends on when or where it was built beyond the versions that made the model."""
    metrics = {"dataset": dataset, **comparison_metrics(comparison),
               "drop_ci_method": "paired bootstrap, 10,000 resamples",
               "evaluated_with": evaluated_with}
    if len(parts) > 1:
        metrics["parts"] = {part: comparison_metrics(c) for part, c in parts.items()}
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "name": name,
        "model_file": f"{name}.tflite",
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "size_bytes": len(model_bytes),
        "labels": list(FASHION_MNIST_LABELS),
        "model": model_info,
        "input": input_spec.as_dict() | input_meaning,
        "output": output_spec.as_dict() | {"meaning": "class probabilities (softmax)"},
        "quantization": {"mode": mode, "description": QUANTIZATION_NOTES[mode]},
        "metrics": metrics,
        "tolerances": tolerances,
        "calibration": calibration,
        "provenance": provenance | {"python": platform.python_version()},
        "runtimes": runtimes,
    }


def ship(out_dir: Path, name: str, model_bytes: bytes, manifest: dict) -> Path:
    """Write ``NAME.tflite`` and ``NAME.json`` into ``out_dir``, each atomically.

    The model goes first: if the run dies between the two renames, the old manifest's sha256
    no longer matches and the runtime refuses the pair instead of running it mislabelled.
    """
    model_path = Path(out_dir) / f"{name}.tflite"
    write_bytes_atomic(model_path, model_bytes)
    write_text_atomic(manifest_path(model_path), json.dumps(manifest, indent=2) + "\n")
    return model_path
