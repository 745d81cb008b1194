"""Input preparation: any decoded image to the 28x28 uint8 input a Fashion-MNIST model expects.

Two paths, picked by ``mode`` (``auto`` decides per image):

* ``fmnist``: the image already is Fashion-MNIST-like (small, garment bright on a dark
  background). A 28x28 image passes through untouched, so test-set PNGs reach the model exactly
  as the test set does; other sizes are fitted into 28x28 on black.
* ``photo``: a photo or camera frame. The garment is segmented from the background
  (:mod:`edge_runtime.segment`), cropped, and rendered the way Fashion-MNIST renders garments
  (arXiv:1708.07747, section 2): negated 8-bit grayscale, longest edge 28, centred on black.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_runtime import imaging
from edge_runtime.imaging import DecodedImage
from edge_runtime.segment import segment_garment
from edge_runtime.tensors import INPUT_HW

MODES = ("auto", "fmnist", "photo")
# Decode photos no larger than this on the short side: segmentation runs at about this size.
PHOTO_DECODE_MIN_SIDE = 160
_FMNIST_MAX_SIDE = 64
_DARK_BORDER = 60


@dataclass(frozen=True)
class PreparedInput:
    """The 28x28 uint8 model input, the path that made it, and the garment mask where one exists."""

    pixels: np.ndarray
    mode: str
    mask: np.ndarray | None = None


def looks_like_fmnist(pixels: np.ndarray) -> bool:
    """True for a Fashion-MNIST-style image: exactly 28x28 (whatever its border: some test-set
    garments fill the frame), or small on a dark border."""
    if pixels.shape[:2] == INPUT_HW:
        return True
    if max(pixels.shape[:2]) > _FMNIST_MAX_SIDE:
        return False
    gray = imaging.to_gray(pixels)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(border.mean()) < _DARK_BORDER


def fit_on_canvas(gray: np.ndarray, side: int = INPUT_HW[0]) -> np.ndarray:
    """Scale so the longest edge is ``side`` and centre on a black ``side`` x ``side`` canvas."""
    height, width = gray.shape
    if (height, width) == (side, side):
        return gray
    scale = side / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - new_h) // 2, (side - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = imaging.resize(gray, new_w, new_h)
    return canvas


def prepare_fmnist(image: DecodedImage) -> PreparedInput:
    """The Fashion-MNIST path: grayscale, fitted into 28x28 on black (identity for 28x28)."""
    return PreparedInput(fit_on_canvas(imaging.to_gray(image.pixels)), "fmnist")


def prepare_photo(image: DecodedImage) -> PreparedInput:
    """The photo path: segment the garment, negate it, crop, fit into 28x28 on black."""
    segmented = segment_garment(image.pixels, image.alpha)
    gray = imaging.to_gray(segmented.pixels)
    garment = np.where(segmented.mask, 255 - gray, 0).astype(np.uint8)
    ys, xs = np.nonzero(segmented.mask)
    if len(ys) == 0:  # nothing found: the model sees an empty frame and scores it low
        return PreparedInput(np.zeros(INPUT_HW, dtype=np.uint8), "photo", segmented.mask)
    crop = garment[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return PreparedInput(fit_on_canvas(crop), "photo", segmented.mask)


def prepare(image: DecodedImage | np.ndarray, mode: str = "auto") -> PreparedInput:
    """Prepare one decoded image (or a raw gray/BGR array) for the model."""
    if isinstance(image, np.ndarray):
        image = DecodedImage(image)
    if image.pixels.size == 0 or 0 in image.pixels.shape[:2]:
        raise imaging.ImageDecodeError(f"image has a zero dimension {image.pixels.shape}")
    if mode == "auto":
        mode = "fmnist" if looks_like_fmnist(image.pixels) else "photo"
    if mode == "fmnist":
        return prepare_fmnist(image)
    if mode == "photo":
        return prepare_photo(image)
    raise ValueError(f"unknown preprocess mode {mode!r}, expected one of {MODES}")
