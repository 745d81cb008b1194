"""When a new model may replace the bundle shipped under its name.

Only when it is clearly better, so that rebuilding the shipped recipe (on another CPU, whose
kernels round sums differently) never rewrites ``models/`` for noise: paired with the shipped
model on the same pictures, it reads more of them right, and the paired bootstrap's 95% interval
of the difference lies above zero. The pictures are the gate's; for a photo model, the real
photos its run held out (:data:`~convert.evaluation.HELD_OUT_PHOTOS`), since those, not the
rendered Fashion-MNIST garments, are what it is for. They are held out from the shipped model
too only where both runs split the same photo list the same way; otherwise the shipped model
has trained on some of them, the pairing would favour it, and it stays (``--replace`` ships).

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


def photo_split(provenance: dict) -> dict:
    """What decides which photos a photo model's run held out: its photo list and held-out fold
    or source (from its manifest's provenance)."""
    training = provenance.get("training") or {}
    return {"photo_list_sha256": provenance.get("photo_list_sha256"),
            "holdout_fold": training.get("holdout_fold"),
            "holdout_source": training.get("holdout_source")}


def shipped_verdict(out_dir: Path, name: str, model_bytes: bytes, pictures: str,
                    alone: Callable[[Path], Comparison], split: dict | None = None) -> Verdict:
    """Whether the bundle ``name`` in ``out_dir`` stays. ``alone`` pairs the shipped model
    (reference) with the new one (candidate) on ``pictures`` (named in the reason); ``split``
    (:func:`photo_split`, photo models) must match the shipped model's for the pairing to be
    fair."""
    model_path = Path(out_dir) / f"{name}.tflite"
    if not model_path.is_file():
        return Verdict(False)
    if model_path.read_bytes() == model_bytes:
        return Verdict(True, "unchanged: the shipped model is byte-identical")
    from edge_runtime.classifier import MODEL_ERRORS
    from edge_runtime.interpreter.bundle import ManifestError, manifest_path, read_manifest

    if split is not None:
        try:
            shipped_split = photo_split(read_manifest(manifest_path(model_path))["provenance"])
        except (ManifestError, KeyError):
            shipped_split = None  # an unreadable bundle: the pairing below reports it
        if shipped_split is not None and shipped_split != split:
            differs = ", ".join(f"{key} {shipped_split[key]} (new: {split[key]})"
                                for key in split if shipped_split[key] != split[key])
            return Verdict(True, f"kept the shipped {name}: it was trained on another split of "
                           f"the photos ({differs}), so some of {pictures} are its training "
                           "photos and the pairing would favour it (--replace ships the new "
                           "one anyway)")

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
