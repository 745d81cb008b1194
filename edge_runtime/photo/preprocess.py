"""Input preparation: any decoded image to the input its model expects.

Two paths, picked by ``mode`` (``auto`` decides per image):

* ``fmnist``: the image already is Fashion-MNIST-like (small, garment bright on a dark
  background). A 28x28 image passes through untouched, so test-set PNGs reach the model exactly
  as the test set does; other sizes are fitted into 28x28 on black.
* ``photo``: a photo or camera frame. For an RGB photo model the whole photo is letterboxed
  into the model's input (a cut-out's transparent parts white, as a catalogue shows it): the
  model learned from whole photos of every kind, so nothing is cut away before it reads them. A
  featureless picture (a wall, a covered lens) is no garment. With a static camera's empty
  scene, what differs from it is the garment, and no difference means none in view. For a 28x28
  model the garment is segmented from the background (:mod:`edge_runtime.photo.segment`),
  cropped and rendered the way Fashion-MNIST renders garments (arXiv:1708.07747, section 2):
  negated 8-bit grayscale, longest edge 28, centred on black, with the garment's intensities
  moved to those of the training data, so a white shirt and a black coat reach the model alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_runtime.interpreter.tensors import INPUT_HW, ImageLayout
from edge_runtime.media import imaging
from edge_runtime.media.decoded import DecodedImage, as_image
from edge_runtime.photo.segment import Segmentation, segment_against_background, segment_garment

MODES = ("auto", "fmnist", "photo")
FMNIST_LAYOUT = ImageLayout(*INPUT_HW, 1)
# Decode photos no larger than this on the short side: segmentation runs at about this size.
PHOTO_DECODE_MIN_SIDE = 160
LETTERBOX_FILL = 127  # the grey the photo models' normalisation maps to 0
_FMNIST_MAX_SIDE = 64
_DARK_BORDER = 60
# Fashion-MNIST training garments (pixels > 12): mean 156, standard deviation about 60.
GARMENT_MEAN, GARMENT_STD = 156.0, 60.0
_MAX_GAIN = 4.0  # stretch a flat-coloured garment this much at most: beyond it is only noise
# The largest step between neighbouring grey levels at 32x32 below which a picture holds
# nothing: an evenly or unevenly lit wall or a covered lens steps by a level or two, any garment
# has an edge (the plainest training or evaluation photo, a white T-shirt on a white floor,
# steps by 16).
FEATURELESS_STEP = 6
_FEATURE_SIDE = 32


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a microsecond per image
class PreparedInput:
    """The uint8 model input (28x28 gray, or H x W x 3 RGB), the path that made it, the
    garment mask where the photo path segmented one, and whether a garment is in view (False:
    the model is not asked)."""

    pixels: np.ndarray
    mode: str
    mask: np.ndarray | None = None
    garment_found: bool = True


def photo_decode_side(layout: ImageLayout | None) -> int:
    """The least short side a photo must be decoded at for a photo model of ``layout``."""
    if layout is None or layout.is_fmnist:
        return PHOTO_DECODE_MIN_SIDE
    return max(PHOTO_DECODE_MIN_SIDE, layout.height, layout.width)


def choose_mode(image: DecodedImage, mode: str) -> str:
    """``fmnist`` or ``photo``: ``mode`` itself, or for ``auto`` what the image looks like."""
    if mode == "auto":
        return "fmnist" if looks_like_fmnist(image.pixels) else "photo"
    if mode not in MODES:
        raise ValueError(f"unknown preprocess mode {mode!r}, expected one of {MODES}")
    return mode


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
    if image.pixels.shape == INPUT_HW:  # already the model's input: the common case, kept fast
        return PreparedInput(image.pixels, "fmnist")
    return PreparedInput(fit_on_canvas(imaging.to_gray(image.pixels)), "fmnist")


def render_garment(bright: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Render a garment the Fashion-MNIST way: ``bright`` holds its intensities (garment bright,
    any range), ``mask`` where it is. Intensities inside the mask are moved to the training
    data's mean and spread, everything else is black; then crop, longest edge 28, centre.

    A 28x28 model reads a photo's garment through it.
    """
    if not mask.any():  # nothing found: the model sees an empty frame and scores it low
        return np.zeros(INPUT_HW, dtype=np.uint8)
    values = bright[mask].astype(np.float32)
    gain = min(GARMENT_STD / max(float(values.std()), 1e-3), _MAX_GAIN)
    levels = np.clip(GARMENT_MEAN + (bright.astype(np.float32) - values.mean()) * gain, 1, 255)
    garment = np.where(mask, levels, 0).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    return fit_on_canvas(garment[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def letterbox(pixels: np.ndarray, layout: ImageLayout) -> np.ndarray:
    """The whole image, RGB, scaled to fit ``layout`` and centred on neutral grey."""
    height, width = pixels.shape[:2]
    scale = min(layout.height / height, layout.width / width)
    new_w = min(layout.width, max(1, round(width * scale)))
    new_h = min(layout.height, max(1, round(height * scale)))
    canvas = np.full((layout.height, layout.width, 3), LETTERBOX_FILL, np.uint8)
    top, left = (layout.height - new_h) // 2, (layout.width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = imaging.to_rgb(
        imaging.shrink(pixels, new_w, new_h))
    return canvas


def photo_pixels(image: DecodedImage) -> np.ndarray:
    """The photo as the photo model reads it: a cut-out's transparent parts white, the backdrop
    of a catalogue shot (the colour under them is arbitrary, often black)."""
    if image.alpha is None:
        return image.pixels
    opacity = image.alpha.astype(np.float32) / 255.0
    if image.pixels.ndim == 3:
        opacity = opacity[..., None]
    return (image.pixels * opacity + 255.0 * (1.0 - opacity) + 0.5).astype(np.uint8)


def is_featureless(pixels: np.ndarray) -> bool:
    """True for a picture with nothing in it (a wall, a covered lens, a blank page): no two
    neighbouring grey levels at 32x32 differ by :data:`FEATURELESS_STEP` or more."""
    gray = imaging.to_gray(imaging.shrink(pixels, _FEATURE_SIDE, _FEATURE_SIDE)).astype(np.int16)
    step = max(int(np.abs(np.diff(gray, axis=0)).max()), int(np.abs(np.diff(gray, axis=1)).max()))
    return step < FEATURELESS_STEP


def prepare_photo(image: DecodedImage, layout: ImageLayout = FMNIST_LAYOUT,
                  scene: np.ndarray | None = None) -> PreparedInput:
    """The photo path: for an RGB model the whole photo letterboxed (no garment when it is
    featureless, or, given ``scene``, a static camera's
    :func:`~edge_runtime.photo.segment.empty_scene`, when nothing differs from it); for a 28x28
    model the garment segmented (against ``scene`` when given) and rendered as Fashion-MNIST
    does."""
    if layout.is_fmnist:
        segmented = (segment_garment(image.pixels, image.alpha) if scene is None
                     else segment_against_background(image.pixels, scene))
        return PreparedInput(render_garment(_bright(segmented), segmented.mask), "photo",
                             segmented.mask, bool(segmented.mask.any()))
    pixels = photo_pixels(image)
    if scene is None:
        return PreparedInput(letterbox(pixels, layout), "photo",
                             garment_found=not is_featureless(pixels))
    mask = segment_against_background(image.pixels, scene).mask
    return PreparedInput(letterbox(pixels, layout), "photo", mask, bool(mask.any()))


def _bright(segmented: Segmentation) -> np.ndarray:
    """The photo negated to gray: a garment darker than its backdrop comes out bright."""
    return 255 - imaging.to_gray(segmented.pixels)


def prepare_as(image: DecodedImage, mode: str, layout: ImageLayout,
               scene: np.ndarray | None = None) -> PreparedInput:
    """Prepare a decoded image by the path ``mode`` (``fmnist`` or ``photo``) for a model of
    ``layout``; an RGB model always takes the photo path."""
    if mode == "fmnist" and layout.is_fmnist:
        return prepare_fmnist(image)
    return prepare_photo(image, layout, scene)


def prepare(image, mode: str = "auto", layout: ImageLayout = FMNIST_LAYOUT,
            scene: np.ndarray | None = None) -> PreparedInput:
    """Prepare one image (a DecodedImage or an array :func:`~edge_runtime.media.decoded.as_image`
    accepts) for a model of ``layout``; ``mode`` as :func:`choose_mode` resolves it."""
    image = as_image(image)
    return prepare_as(image, choose_mode(image, mode), layout, scene)
