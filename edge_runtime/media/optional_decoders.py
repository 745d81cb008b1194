"""Decoding through Pillow, from the ``heif`` extra: HEIC/HEIF (iPhone photos) with
pillow-heif, and AVIF and GIF where the installed OpenCV has no decoder for them (the OpenCV
that numpy 1 installs, < 4.11). Pillow is imported only when such a file arrives.

Pictures come upright: libheif applies a HEIF's rotation and mirroring (which phones also
write into EXIF, reset to 1 by pillow-heif); EXIF orientation is applied to the rest.
"""

from __future__ import annotations

import io

import numpy as np

from edge_runtime.media.decoded import ImageDecodeError
from edge_runtime.media.formats import AVIF, HEIF, ImageFormat


def pillow_decodes(kind: ImageFormat) -> bool:
    """Whether Pillow, as installed here, decodes ``kind`` (HEIF needs pillow-heif too)."""
    try:
        from PIL import features
    except ImportError:
        return False
    if kind is HEIF:
        try:
            import pillow_heif
        except ImportError:
            return False
        pillow_heif.register_heif_opener()
        return True
    if kind is not AVIF:
        return True
    try:
        return bool(features.check_module("avif"))  # Pillow >= 11.2, built with libavif
    except ValueError:  # an older Pillow, which does not know the name
        return False


def decode_with_pillow(data: bytes, where: str, kind: ImageFormat,
                       max_pixels: int) -> tuple[np.ndarray, np.ndarray | None]:
    """8-bit BGR or grayscale pixels (the first frame of an animation) and the alpha channel
    (or None) of ``data``, upright. ImageDecodeError naming ``where`` when it cannot be
    decoded or its size is above ``max_pixels`` (checked before decoding)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > max_pixels:
            raise ImageDecodeError(
                f"{where}: header claims {width}x{height} = {width * height:,} pixels, above the "
                f"{max_pixels:,}-pixel limit; refusing to decode")
        image = ImageOps.exif_transpose(image)
        mode = "L" if image.mode in ("1", "L") else (
            "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
        pixels = np.asarray(image.convert(mode))
    except ImageDecodeError:  # the size refused above (a ValueError too)
        raise
    except UnidentifiedImageError:  # its message names a BytesIO object: nothing to tell
        raise ImageDecodeError(f"{where}: not a decodable image ({kind.name}: corrupt or "
                               "truncated)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ImageDecodeError(f"{where}: not a decodable image ({kind.name}: {detail})") from None
    if mode == "L":
        return np.ascontiguousarray(pixels), None
    bgr = np.ascontiguousarray(pixels[:, :, 2::-1])
    return bgr, (np.ascontiguousarray(pixels[:, :, 3]) if mode == "RGBA" else None)
