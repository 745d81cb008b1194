"""When a new model may replace the bundle shipped under its name.

Only when it is clearly better, so that rebuilding the shipped recipe (on another CPU, whose
kernels round sums differently) never rewrites ``models/`` for noise:

1. alone, paired with the shipped model on the gate's pictures: it reads more of them right, and
   the paired bootstrap's 95% interval of the difference lies above zero;
2. for the models that decide photos (the photo model, and the garment model that
   ``fashion-classify`` blends into every photo's decision, :mod:`edge_runtime.photo.blend`):
   through ``fashion-classify``'s decision on the photos the shipped photo model held out, it
   reads no fewer, counted by ``fashion-evaluate``'s own loop. Two models can rank one way alone
   and the other way through the product. A garment model stays as shipped where those photos
   are absent: nothing else shows what it does to photos.

A byte-identical model leaves the files (and git) untouched; ``--replace`` ships regardless.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from convert.compare import Comparison, compare_predictions
from convert.manifest import ship
from edge_runtime.interpreter.bundle import ManifestError, manifest_path, read_manifest


class PhotosReadRight(NamedTuple):
    """Held-out photos read right through fashion-classify's decision, of ``n``."""

    shipped: int
    new: int
    n: int


@dataclass(frozen=True)
class Verdict:
    """Whether the bundle in place stays, and what happens to it in one line (empty when
    there was none)."""

    keep_shipped: bool
    reason: str = ""


@dataclass(frozen=True)
class HeldOutPhotos:
    """Photos a photo model never saw, their classes, and the models to classify them with
    besides the one being judged (``Classifier`` keyword arguments)."""

    photos: list[Path]
    labels: np.ndarray
    beside: dict = field(default_factory=dict)


def shipped_verdict(out_dir: Path, name: str, model_bytes: bytes, manifest: dict,
                    alone: Callable[[Path], Comparison],
                    read_right: Callable[[Path], PhotosReadRight | None] | None = None
                    ) -> Verdict:
    """Whether the bundle ``name`` in ``out_dir`` stays. ``alone`` pairs the shipped model
    (reference) with the new one (candidate) on the pictures ``manifest`` was measured on;
    ``read_right`` (for a model that decides photos) counts the held-out photos each reads right
    through fashion-classify's decision, or gives None where the photos are absent."""
    model_path = Path(out_dir) / f"{name}.tflite"
    if not model_path.is_file():
        return Verdict(False)
    if model_path.read_bytes() == model_bytes:
        return Verdict(True, "unchanged: the shipped model is byte-identical")
    try:
        old = read_manifest(manifest_path(model_path))["metrics"]
    except (ManifestError, KeyError):
        return Verdict(False, "replaced a bundle whose manifest is unreadable")
    dataset = manifest["metrics"]["dataset"]
    if old.get("dataset") != dataset:
        return Verdict(False, "replaced a bundle measured on other pictures")
    from edge_runtime.classifier import MODEL_ERRORS

    try:
        paired = alone(model_path)
    except (*MODEL_ERRORS, ValueError) as exc:
        return Verdict(False, f"replaced a bundle that cannot read these pictures ({exc})")
    shipped, new = (round(a * paired.n) for a in (paired.reference_accuracy,
                                                  paired.candidate_accuracy))
    low, high = (-d for d in reversed(paired.drop_ci95_pp))  # the gain's interval
    figures = (f"on {dataset} the new one reads {new} of {paired.n} right, the shipped one "
               f"{shipped} ({-paired.drop_pp:+.2f} pp, 95% CI {low:+.2f}, {high:+.2f})")
    if low <= 0:
        return Verdict(True, f"kept the shipped {name}: the new one is not clearly better: "
                       f"{figures} (--replace ships it anyway)")
    if read_right is None:
        return Verdict(False, f"replaced it: {figures}")
    counts = read_right(model_path)
    if counts is None:
        return Verdict(True, f"kept the shipped {name}: fashion-classify blends it into every "
                       "photo's decision, and without the held-out photos (--photos DIR) the new "
                       "one cannot be measured there (--replace ships it anyway)")
    if counts.shipped > counts.new:
        return Verdict(True, f"kept the shipped {name}: through fashion-classify's decision it "
                       f"reads {counts.shipped} of {counts.n} held-out photos right, the new one "
                       f"{counts.new} (--replace ships it anyway)")
    return Verdict(False, f"replaced it: {figures}; through fashion-classify's decision the "
                   f"shipped one reads {counts.shipped} of {counts.n} held-out photos right, the "
                   f"new one {counts.new}")


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


def photos_read_right(photos: Sequence[Path], labels: np.ndarray, **models) -> int:
    """How many of ``photos`` ``fashion-classify`` labels ``labels``, with ``models``
    (``photo_model=``, ``garment_model=``) in place of the shipped ones."""
    from edge_runtime.apps.evaluate import evaluate
    from edge_runtime.classifier import Classifier
    from edge_runtime.photo.folds import LabelledPhoto

    with Classifier(**models) as clf:
        predicted = evaluate(clf, [LabelledPhoto(Path(p), int(c), 0)
                                   for p, c in zip(photos, labels)])["predicted"]
    return int((predicted == np.asarray(labels)).sum())


def held_out_read_right(shipped: Path, name: str, model_bytes: bytes, manifest: dict,
                        held_out: HeldOutPhotos | None, role: str = "photo_model"
                        ) -> PhotosReadRight | None:
    """Held-out photos read right with the shipped bundle and with the new model as
    ``fashion-classify``'s ``role`` (the new one shipped as a bundle in a temporary folder first,
    so that it is loaded exactly as a device loads it); None without ``held_out``. The shipped
    bundle has loaded already, for :func:`paired_with_shipped`."""
    if held_out is None:
        return None

    def read_right(model: Path) -> int:
        return photos_read_right(held_out.photos, held_out.labels,
                                 **{**held_out.beside, role: model})

    with tempfile.TemporaryDirectory() as tmp:
        candidate = ship(Path(tmp), name, model_bytes, manifest)
        return PhotosReadRight(read_right(shipped), read_right(candidate), len(held_out.photos))


def photo_model_held_out(models: Path, photos_root: Path) -> HeldOutPhotos:
    """The photos that the photo model shipped in ``models`` (else the installed one) held out,
    found under ``photos_root`` and checked against the photo list, with that photo model beside
    them: what a garment model is judged on."""
    from convert.evaluation import EvaluationDataError
    from edge_runtime.interpreter.bundle import PHOTO_MODEL_NAME, default_model_path
    from train.photo.photo_list import PHOTO_LIST, holds_out, read_photo_list
    from train.photo.views import PhotoFolderError, locate_photos

    photo_model = Path(models) / f"{PHOTO_MODEL_NAME}.tflite"
    if not photo_model.is_file():
        photo_model = default_model_path(PHOTO_MODEL_NAME)
    try:
        provenance = read_manifest(manifest_path(photo_model)).get("provenance") or {}
        training = provenance.get("training") or {}
        fold, source = training.get("holdout_fold", 0), training.get("holdout_source")
        listed = [p for p in read_photo_list(PHOTO_LIST) if holds_out(p, fold, source)]
        held = locate_photos(Path(photos_root), listed)
    except (ManifestError, PhotoFolderError) as exc:
        raise EvaluationDataError(str(exc)) from None
    return HeldOutPhotos([p.path for p in held], np.array([p.class_id for p in held]),
                         {"photo_model": photo_model})
