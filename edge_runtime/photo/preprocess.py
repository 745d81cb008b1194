"""Input preparation: any decoded image to the 28x28 uint8 input a Fashion-MNIST model expects.

Two paths, picked by ``mode`` (``auto`` decides per image):

* ``fmnist``: the image already is Fashion-MNIST-like (small, garment bright on a dark
  background). A 28x28 image passes through untouched, so test-set PNGs reach the model exactly
  as the test set does; other sizes are fitted into 28x28 on black.
* ``photo``: a photo or camera frame. The garment is segmented from the background
  (:mod:`edge_runtime.photo.segment`), cropped, and rendered the way Fashion-MNIST renders garments
  (arXiv:1708.07747, section 2): negated 8-bit grayscale, longest edge 28, centred on black,
  with the garment's intensities moved to those of the training data (mean 156, spread 60 on
  0-255), so a white shirt and a black coat reach the model alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_runtime.media import imaging
from edge_runtime.media.imaging import DecodedImage
from edge_runtime.photo.segment import segment_against_background, segment_garment
from edge_runtime.interpreter.tensors import INPUT_HW

MODES = ("auto", "fmnist", "photo")
# Decode photos no larger than this on the short side: segmentation runs at about this size.
PHOTO_DECODE_MIN_SIDE = 160
_FMNIST_MAX_SIDE = 64
_DARK_BORDER = 60
# Fashion-MNIST training garments (pixels > 12): mean 156, standard deviation about 60.
GARMENT_MEAN, GARMENT_STD = 156.0, 60.0
_MAX_GAIN = 4.0  # stretch a flat-coloured garment this much at most: beyond it is only noise


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


def render_garment(bright: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Render a garment the Fashion-MNIST way: ``bright`` holds its intensities (garment bright,
    any range), ``mask`` where it is. Intensities inside the mask are moved to the training
    data's mean and spread, everything else is black; then crop, longest edge 28, centre.

    The photo-robust model is trained on images passed through this same function.
    """
    if not mask.any():  # nothing found: the model sees an empty frame and scores it low
        return np.zeros(INPUT_HW, dtype=np.uint8)
    values = bright[mask].astype(np.float32)
    gain = min(GARMENT_STD / max(float(values.std()), 1e-3), _MAX_GAIN)
    levels = np.clip(GARMENT_MEAN + (bright.astype(np.float32) - values.mean()) * gain, 1, 255)
    garment = np.where(mask, levels, 0).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    return fit_on_canvas(garment[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def prepare_photo(image: DecodedImage, scene: np.ndarray | None = None) -> PreparedInput:
    """The photo path: segment the garment (against ``scene``, a static camera's
    :func:`~edge_runtime.photo.segment.empty_scene`, when given), negate it, render it as
    Fashion-MNIST does."""
    if scene is not None:
        segmented = segment_against_background(image.pixels, scene)
    else:
        segmented = segment_garment(image.pixels, image.alpha)
    negated = 255 - imaging.to_gray(segmented.pixels)
    return PreparedInput(render_garment(negated, segmented.mask), "photo", segmented.mask)


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
