"""Real photos as training data for the photo-robust variant.

Fashion-MNIST has no shoes seen from above and no folded pullovers, and augmenting it does not
invent them (README, "Real photos"). A folder of labelled photos in ``fashion-evaluate``'s layout
fills that gap: every photo outside the held-out fold is re-shot ``copies`` times (framing,
tilt, mirror, light and white balance change as between two shots of the same garment) and
rendered through the device's own photo path, so the model learns from exactly what it will see.
The held-out fold never enters training, so ``fashion-evaluate`` still measures unseen photos.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.media import imaging
from edge_runtime.photo.folds import find_photos
from edge_runtime.labels import FASHION_MNIST_LABELS
from edge_runtime.photo.preprocess import PHOTO_DECODE_MIN_SIDE, prepare_photo

_MAX_TILT = 20.0  # degrees
_MIN_CROP = 0.75  # keep at least this share of each side: the garment stays mostly in view
_LUMA_BGR = np.array([0.114, 0.587, 0.299])  # ITU-R BT.601, as imaging.to_gray


class NoPhotosError(ValueError):
    """The folder holds no usable photo outside the held-out fold."""


def reshoot(image: imaging.DecodedImage, rng: np.random.Generator) -> imaging.DecodedImage:
    """The photo as another shot might have taken it: mirrored or not, cropped, tilted (edges
    filled by reflection, not black corners), brighter or darker, with another white balance;
    scaled as by :func:`at_decode_size`. A grayscale photo stays grayscale (its light changes
    by the luma of the white-balance gains); an alpha channel moves with the pixels."""
    layers = image.pixels if image.alpha is None else np.dstack([image.pixels, image.alpha])
    if rng.random() < 0.5:
        layers = layers[:, ::-1]
    height, width = layers.shape[:2]
    least = rng.uniform(_MIN_CROP, 1.0)
    crop_h, crop_w = int(height * rng.uniform(least, 1.0)), int(width * rng.uniform(least, 1.0))
    top, left = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
    layers = np.ascontiguousarray(layers[top : top + crop_h, left : left + crop_w])
    tilt = cv2.getRotationMatrix2D((crop_w / 2, crop_h / 2), rng.uniform(-_MAX_TILT, _MAX_TILT), 1)
    layers = cv2.warpAffine(layers, tilt, (crop_w, crop_h), borderMode=cv2.BORDER_REFLECT101)
    pixels, alpha = (layers, None) if image.alpha is None else (layers[:, :, :-1], layers[:, :, -1])
    gains = rng.uniform(0.75, 1.25, 3)
    if image.pixels.ndim == 2:
        pixels, gains = pixels.reshape(pixels.shape[:2]), float(gains @ _LUMA_BGR)
    lit = pixels.astype(np.float32) * gains + rng.uniform(-25, 25)
    return at_decode_size(imaging.DecodedImage(np.clip(lit, 0, 255).astype(np.uint8), alpha))


def at_decode_size(image: imaging.DecodedImage) -> imaging.DecodedImage:
    """Scale so the short side is ``PHOTO_DECODE_MIN_SIDE``, the least the device decodes a photo
    at (it decodes JPEGs at 1/2, 1/4 or 1/8 scale, so its short side is 160-320 px);
    segmentation then works at 128 px on the long side either way."""
    height, width = image.pixels.shape[:2]
    scale = PHOTO_DECODE_MIN_SIDE / min(height, width)
    size = round(width * scale), round(height * scale)
    alpha = None if image.alpha is None else imaging.resize(np.ascontiguousarray(image.alpha),
                                                            *size)
    return imaging.DecodedImage(imaging.resize(np.ascontiguousarray(image.pixels), *size), alpha)


def real_photo_training_set(
    folder: Path, copies: int, holdout_fold: int, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Rendered inputs and labels from the photos of ``folder`` outside ``holdout_fold``: each
    photo as shot plus ``copies - 1`` re-shoots. Also returns how many photos were used."""
    rng = np.random.default_rng(seed)
    used = [p for p in find_photos(Path(folder), FASHION_MNIST_LABELS) if p.fold != holdout_fold]
    images, labels = [], []
    n_used = 0
    for photo in used:
        try:  # decoded at twice the device's size, so that crops keep their detail
            image = imaging.read_image(photo.path, 2 * PHOTO_DECODE_MIN_SIDE)
        except imaging.ImageDecodeError as exc:
            print(f"fashion-train: warning: {exc}; skipped", file=sys.stderr)
            continue
        n_used += 1
        for copy in range(copies):
            shot = reshoot(image, rng) if copy else at_decode_size(image)
            images.append(prepare_photo(shot).pixels)
            labels.append(photo.class_id)
    if not images:
        raise NoPhotosError(f"{folder}: no photos outside fold {holdout_fold}, expected class "
                         "subfolders of photos (the layout of fashion-evaluate)")
    return np.stack(images), np.array(labels, dtype=np.uint8), n_used
