"""When a new model may replace the bundle shipped under its name.

Only when it is clearly better, so that rebuilding the shipped recipe (on another CPU, whose
kernels round sums differently) never rewrites ``models/`` for noise: paired with the shipped
model on the same pictures, it reads more of them right, and the paired bootstrap's 95% interval
of the difference lies above zero. The pictures are the gate's; for a photo model, the real
photos its run held out (:data:`~convert.evaluation.HELD_OUT_PHOTOS`), since those, not the
rendered Fashion-MNIST garments, are what it is for.

A byte-identical model leaves the files (and git) untouched; ``--replace`` ships regardless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert.compare import Comparison, compare_predictions


@dataclass(frozen=True)
class Verdict:
    """Whether the bundle in place stays, and what happens to it in one line (empty when
    there was none)."""

    keep_shipped: bool
    reason: str = ""


def shipped_verdict(out_dir: Path, name: str, model_bytes: bytes, pictures: str,
                    alone: Callable[[Path], Comparison]) -> Verdict:
    """Whether the bundle ``name`` in ``out_dir`` stays. ``alone`` pairs the shipped model
    (reference) with the new one (candidate) on ``pictures`` (named in the reason)."""
    model_path = Path(out_dir) / f"{name}.tflite"
    if not model_path.is_file():
        return Verdict(False)
    if model_path.read_bytes() == model_bytes:
        return Verdict(True, "unchanged: the shipped model is byte-identical")
    from edge_runtime.classifier import MODEL_ERRORS

    try:
        paired = alone(model_path)
    except (*MODEL_ERRORS, ValueError) as exc:
        return Verdict(False, f"replaced a bundle that cannot read these pictures ({exc})")
    shipped, new = (round(a * paired.n) for a in (paired.reference_accuracy,
                                                  paired.candidate_accuracy))
    low, high = (-d for d in reversed(paired.drop_ci95_pp))  # the gain's interval
    figures = (f"on {pictures} the new one reads {new} of {paired.n} right, the shipped one "
               f"{shipped} ({-paired.drop_pp:+.2f} pp, 95% CI {low:+.2f}, {high:+.2f})")
    if low <= 0:
        return Verdict(True, f"kept the shipped {name}: the new one is not clearly better: "
                       f"{figures} (--replace ships it anyway)")
    return Verdict(False, f"replaced it: {figures}")


def paired_with_shipped(shipped: Path, inputs: np.ndarray, labels: np.ndarray,
                        candidate: np.ndarray) -> Comparison:
    """The shipped bundle's predictions on ``inputs`` (checked against its manifest first)
    paired with the new model's, ``candidate``."""
    from edge_runtime.interpreter.runner import load_model

    runner = load_model(shipped).runner
    try:
        predicted = runner.probabilities_batch(inputs).argmax(axis=1)
    finally:
        runner.close()
    return compare_predictions(labels, predicted, candidate)
