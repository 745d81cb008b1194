"""Build the ``NAME.json`` manifest of a converted model and ship the bundle atomically."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

from convert.compare import Comparison
from edge_runtime.interpreter.bundle import MANIFEST_SCHEMA_VERSION, PIXEL_CONVENTION, manifest_path
from edge_runtime.labels import FASHION_MNIST_LABELS
from edge_runtime.interpreter.tensors import TensorSpec
from edge_runtime.media.atomic_files import write_bytes_atomic, write_text_atomic

QUANTIZATION_NOTES = {
    "float32": "no quantization",
    "float16": "weights stored as float16, computed in float32",
    "dynamic": "dynamic-range: int8 weights, float32 activations quantized at run time",
    "int8": "full-integer: int8 weights and activations, uint8 input and output",
}


def build_manifest(
    *,
    name: str,
    mode: str,
    model_bytes: bytes,
    input_spec: TensorSpec,
    output_spec: TensorSpec,
    comparison: Comparison,
    tolerances: dict[str, float],
    calibration: dict | None,
    provenance: dict,
    evaluated_with: str,
    runtimes: dict[str, dict],
) -> dict:
    """Everything a device needs to use the model safely, and how it was measured."""
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "name": name,
        "model_file": f"{name}.tflite",
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "size_bytes": len(model_bytes),
        "labels": list(FASHION_MNIST_LABELS),
        "input": input_spec.as_dict() | {
            "pixel_convention": PIXEL_CONVENTION,
            "value_range": [0, 255],
            "normalisation": "inside the model (x / 255)",
        },
        "output": output_spec.as_dict() | {"meaning": "class probabilities (softmax)"},
        "quantization": {"mode": mode, "description": QUANTIZATION_NOTES[mode]},
        "metrics": {
            "dataset": "Fashion-MNIST test set",
            "n_images": comparison.n,
            "keras_accuracy": round(comparison.reference_accuracy, 6),
            "tflite_accuracy": round(comparison.candidate_accuracy, 6),
            "drop_pp": comparison.drop_pp,
            "drop_ci95_pp": list(comparison.drop_ci95_pp),
            "drop_ci_method": "paired bootstrap, 10,000 resamples",
            "worst_class": comparison.worst_class,
            "worst_class_drop_pp": comparison.worst_class_drop_pp,
            "per_class_drop_pp": comparison.per_class_drop_pp,
            "top1_agreement_with_keras": round(comparison.agreement, 6),
            "evaluated_with": evaluated_with,
        },
        "tolerances": tolerances,
        "calibration": calibration,
        "provenance": provenance | {"python": platform.python_version()},
        "runtimes": runtimes,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
