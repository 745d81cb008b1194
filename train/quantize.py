"""Keras model to TFLite bytes: float32, float16, dynamic-range and full-integer int8.

In the training stage because both stages quantize: training runs the photo model's frozen
backbone as int8 exactly as ``fashion-convert`` will ship it, and conversion imports from here,
so imports run from ``convert`` to ``train`` only.
"""

from __future__ import annotations

import numpy as np

MODES = ("float32", "float16", "dynamic", "int8")


def calibration_indices(labels: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """``size`` indices drawn evenly from every class (stratified), reproducible for a seed; a
    class with fewer members than its share gives all it has."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = np.full(len(classes), size // len(classes))
    per_class[: size % len(classes)] += 1
    members = [np.flatnonzero(labels == c) for c in classes]
    picks = [rng.choice(rows, min(n, len(rows)), replace=False)
             for rows, n in zip(members, per_class)]
    return np.sort(np.concatenate(picks))


def convert(model, mode: str, calibration: np.ndarray | None = None) -> bytes:
    """Convert a Keras model to TFLite bytes in one of :data:`MODES`.

    ``int8`` needs ``calibration`` images (N, 28, 28) uint8; it quantizes weights and
    activations to int8 and makes input and output uint8, so a device feeds raw pixels.
    """
    if mode not in MODES:
        raise ValueError(f"unknown quantization {mode!r}, expected one of {MODES}")
    import tensorflow as tf  # here, so that the modes and the sampling import without it

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        if calibration is None or len(calibration) == 0:
            raise ValueError("int8 quantization needs calibration images, got none")

        def representative():
            for image in calibration:
                yield [image[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return bytes(converter.convert())
