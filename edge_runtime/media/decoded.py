"""The decoded-image record, and the check that turns an array given as an image into one.

No OpenCV here: the API validates arrays before anything is decoded or prepared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


_UINT8, _UINT16 = np.dtype(np.uint8), np.dtype(np.uint16)


class ImageDecodeError(ValueError):
    """A file that is not a usable image: empty, truncated, not an image, too large, zero-sized,
    or of a format no decoder here reads."""


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a microsecond per image
class DecodedImage:
    """8-bit pixels, grayscale (H, W) or BGR (H, W, 3), the alpha channel when there was one, and
    what the decoder warned about (a damaged file that still decoded), if anything."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    warning: str | None = None


def as_image(image) -> DecodedImage:
    """A :class:`DecodedImage` from itself or from an array: uint8 (or uint16, scaled to 8 bits)
    of shape (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA.

    Anything else is refused, never guessed at: TypeError for another type or dtype, ValueError
    for another shape or a zero-sized image.
    """
    if isinstance(image, DecodedImage):
        return image
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image is a {type(image).__name__}, expected a numpy array or DecodedImage")
    dtype = image.dtype
    if dtype is _UINT16 or dtype == _UINT16:  # the identity test is the fast path
        image = (image >> 8).astype(np.uint8)
    elif dtype is not _UINT8 and dtype != _UINT8:
        raise TypeError(f"image array dtype {image.dtype}, expected uint8 (0-255) or uint16")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ValueError(f"image array shape {image.shape}, expected (H, W), (H, W, 1), "
                         "(H, W, 3) BGR or (H, W, 4) BGRA")
    if 0 in image.shape[:2]:
        raise ValueError(f"image array shape {image.shape} has a zero dimension")
    if image.ndim == 3 and image.shape[2] == 4:
        return DecodedImage(image[:, :, :3], image[:, :, 3])
    return DecodedImage(image)
