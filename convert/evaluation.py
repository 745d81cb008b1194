"""What a converted model is measured and calibrated on, by the kind of input it takes.

A 28x28 Fashion-MNIST model: the full test set, calibrated on training images stratified by
class. An RGB photo model: the real photos its training run held out (as shot, prepared as the
device prepares them) and Fashion-MNIST test garments rendered as product shots and casual
photos; calibrated on the run's training photos and renderings, plus a black and a white image
so that the uint8 input keeps scale 1 and zero point 0 (raw pixels in, as MediaPipe feeds them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.quantize import calibration_indices


class EvaluationDataError(ValueError):
    """The pictures a photo model must be measured on cannot be found."""


HELD_OUT_PHOTOS = "held-out photos"  # the part of a photo model's set that its run never saw


@dataclass
class EvaluationSet:
    """Prepared model inputs with their labels, split into named parts, and calibration inputs."""

    inputs: np.ndarray
    labels: np.ndarray
    parts: dict[str, np.ndarray]  # part name -> boolean rows
    description: str
    calibration: np.ndarray
    calibration_note: dict


def fmnist_set(data, calibration_size: int, seed: int) -> EvaluationSet:
    """The Fashion-MNIST test set; calibration images stratified from the training set."""
    index = calibration_indices(data.train.labels, calibration_size, seed)
    return EvaluationSet(
        data.test.images, data.test.labels, {"test": np.ones(len(data.test.labels), bool)},
        "Fashion-MNIST test set", data.train.images[index],
        {"images": len(index), "source": "Fashion-MNIST training set",
         "sampling": "stratified by class", "seed": seed})


def photo_set(run: dict, data, photos_root: Path | None, input_size: int,
              calibration_size: int, seed: int) -> EvaluationSet:
    """The photo model's held-out photos and rendered test garments (the pictures its training
    run reported), and calibration pictures from its training data."""
    from edge_runtime.interpreter.tensors import ImageLayout
    from train.photo.photo_list import PHOTO_LIST, holds_out, holdout_text, read_photo_list
    from train.photo.views import (TEST_RENDERS_PER_CLASS, PhotoFolderError,
                                   calibration_images, locate_photos, picture_views, renderings)

    config, origin = run.get("config") or {}, run.get("data") or {}
    root = photos_root or (Path(origin["photos"]) if origin.get("photos") else None)
    if root is None or not root.is_dir():
        raise EvaluationDataError(f"the photos the model was trained with are not at {root}; "
                                  "give --photos DIR")
    fold, source = config.get("holdout_fold", 0), config.get("holdout_source")
    train_seed = config.get("seed", 0)
    try:
        pictures = locate_photos(root, read_photo_list(origin.get("photo_list", PHOTO_LIST)))
    except PhotoFolderError as exc:
        raise EvaluationDataError(str(exc)) from None
    layout = ImageLayout(input_size, input_size, 3)
    rng = np.random.default_rng(seed)

    def prepared(chosen) -> np.ndarray:
        return np.concatenate([picture_views(p, 1, layout, rng) for p in chosen])

    held = [p for p in pictures if holds_out(p, fold, source)]
    tests = renderings(data.test, TEST_RENDERS_PER_CLASS, train_seed + 1)
    trained = [p for p in pictures if not holds_out(p, fold, source)]
    renders = renderings(data.train, max(1, calibration_size // 40), seed)
    picked = calibration_indices(np.array([p.class_id for p in trained]),
                                 min(calibration_size, len(trained)), seed)
    calibration = calibration_images([trained[i] for i in picked] + renders, layout, rng)
    labels = np.array([p.class_id for p in held + tests])
    n_held = len(held)
    return EvaluationSet(
        prepared(held + tests), labels,
        {HELD_OUT_PHOTOS: np.arange(len(labels)) < n_held,
         "rendered test garments": np.arange(len(labels)) >= n_held},
        f"held-out real photos ({holdout_text(fold, source)}, {n_held}) and Fashion-MNIST test garments "
        f"rendered as photos ({len(tests)})", calibration,
        {"images": len(calibration), "source": f"training photos ({len(picked)}, stratified by "
         f"class), renderings ({len(renders)}), one black and one white image",
         "seed": seed})
