"""Photo-robust training data: Fashion-MNIST garments made to look like segmented real photos.

The device renders a photographed garment with :func:`edge_runtime.photo.preprocess.render_garment`;
here each training garment is disturbed the way real photos differ from catalogue shots, then
passed through that same function, so the model trains on what it will see:

- geometry: mirror (real shoes face either way), rotation up to 12 degrees, scale, shift;
- imperfect masks: eroded (garment edge lost) or grown (a halo of flat background kept);
- appearance: flat or over-contrasted garments, a brightness offset, texture noise, blur.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_runtime.photo.preprocess import render_garment

_WORK = 56  # warp at twice the size: smoother rotations and masks
_GARMENT_LEVEL = 12  # pixels above this are garment in a Fashion-MNIST image
_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def render_clean(images: np.ndarray) -> np.ndarray:
    """Fashion-MNIST images passed through the device's photo rendering, undisturbed."""
    return np.stack([render_garment(x, x > _GARMENT_LEVEL) for x in images])


def augment_image(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One disturbed, re-rendered copy of a 28x28 Fashion-MNIST image."""
    x = cv2.resize(image.astype(np.float32), (_WORK, _WORK), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        x = np.ascontiguousarray(x[:, ::-1])
    matrix = cv2.getRotationMatrix2D((_WORK / 2, _WORK / 2), rng.uniform(-12, 12),
                                     rng.uniform(0.85, 1.05))
    matrix[:, 2] += rng.uniform(-3, 3, 2)
    x = cv2.warpAffine(x, matrix, (_WORK, _WORK), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = x > _GARMENT_LEVEL
    choice = rng.random()
    if choice < 0.25:
        mask = cv2.erode(mask.astype(np.uint8), _KERNEL).astype(bool)
    elif choice < 0.5:
        grown = cv2.dilate(mask.astype(np.uint8), _KERNEL,
                           iterations=int(rng.integers(1, 3))).astype(bool)
        x = np.where(grown & ~mask, rng.uniform(0, 255), x)
        mask = grown
    if mask.any():
        mean = x[mask].mean()
        x = mean + (x - mean) * rng.uniform(0.15, 1.2) + rng.uniform(-60, 60)
    if rng.random() < 0.5:
        x = x + rng.normal(0, rng.uniform(2, 20), x.shape).astype(np.float32)
    if rng.random() < 0.5:
        x = cv2.GaussianBlur(x.astype(np.float32), (0, 0), rng.uniform(0.5, 1.5))
    return render_garment(x, mask)


def photo_training_set(
    images: np.ndarray, labels: np.ndarray, copies: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The rendered originals plus ``copies`` augmented copies of every image, with labels."""
    rng = np.random.default_rng(seed)
    augmented = [np.stack([augment_image(x, rng) for x in images]) for _ in range(copies)]
    return (np.concatenate([render_clean(images), *augmented]),
            np.tile(labels, copies + 1))
