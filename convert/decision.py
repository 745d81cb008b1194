"""How many held-out photos a model reads right through ``fashion-classify``'s decision.

The conversion gate measures a model alone, but a user's photo gets the photo model's
probabilities blended with the garment model's (:mod:`edge_runtime.photo.blend`), so two photo
models, or two garment models, can rank one way alone and the other way through the product.
Whether a new one may replace the shipped one is therefore also decided by what
``fashion-classify`` would print on the photos the shipped photo model held out, counted by
``fashion-evaluate``'s own loop.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convert.evaluation import EvaluationDataError
from convert.manifest import PhotosReadRight, ship


@dataclass(frozen=True)
class HeldOutPhotos:
    """Photos a photo model never saw, their classes, and the models to classify them with
    besides the one being judged (``Classifier`` keyword arguments)."""

    photos: list[Path]
    labels: np.ndarray
    beside: dict = field(default_factory=dict)


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
    so that it is loaded exactly as a device loads it); None without ``held_out``."""
    from edge_runtime.classifier import MODEL_ERRORS

    if held_out is None:
        return None

    def read_right(model: Path) -> int:
        return photos_read_right(held_out.photos, held_out.labels,
                                 **{**held_out.beside, role: model})

    try:
        shipped_right = read_right(shipped)
    except MODEL_ERRORS:  # a shipped bundle that no longer loads reads no photo
        shipped_right = 0
    with tempfile.TemporaryDirectory() as tmp:
        candidate = ship(Path(tmp), name, model_bytes, manifest)
        return PhotosReadRight(shipped_right, read_right(candidate), len(held_out.photos))


def photo_model_held_out(models: Path, photos_root: Path) -> HeldOutPhotos:
    """The photos that the photo model shipped in ``models`` (else the installed one) held out,
    found under ``photos_root`` and checked against the photo list, with that photo model beside
    them: what a garment model is judged on."""
    from edge_runtime.interpreter.bundle import (PHOTO_MODEL_NAME, ManifestError,
                                                 default_model_path, manifest_path, read_manifest)
    from train.photo.photo_list import PHOTO_LIST, read_photo_list
    from train.photo.views import PhotoFolderError, locate_photos

    photo_model = Path(models) / f"{PHOTO_MODEL_NAME}.tflite"
    if not photo_model.is_file():
        photo_model = default_model_path(PHOTO_MODEL_NAME)
    try:
        provenance = read_manifest(manifest_path(photo_model)).get("provenance") or {}
        fold = (provenance.get("training") or {}).get("holdout_fold", 0)
        listed = [p for p in read_photo_list(PHOTO_LIST) if p.set == "eval" and p.fold == fold]
        held = locate_photos(Path(photos_root), listed)
    except (ManifestError, PhotoFolderError) as exc:
        raise EvaluationDataError(str(exc)) from None
    return HeldOutPhotos([p.path for p in held], np.array([p.class_id for p in held]),
                         {"photo_model": photo_model})
