"""Image files to pixels and back: decoding (size limit, end-of-image check, reduced-scale
JPEG decoding, EXIF orientation, alpha split off) and PNG/JPEG encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_runtime import native_messages
from edge_runtime.media import optional_decoders
from edge_runtime.media.decoded import DecodedImage, ImageDecodeError
from edge_runtime.media.decoders import decoder_for, missing_decoder
from edge_runtime.media.formats import image_format, read_image_file
from edge_runtime.media.headers import exif_orientation, header_size, truncation
from edge_runtime.media.opencv import MAX_PIXELS, cv2


# EXIF orientation -> how to turn the stored pixels upright: transpose first, then flip the
# rows, the columns (6 is a quarter turn clockwise, 8 anticlockwise, 3 a half turn).
_UPRIGHT = {2: (False, False, True), 3: (False, True, True), 4: (False, True, False),
            5: (True, False, False), 6: (True, False, True), 7: (True, True, True),
            8: (True, True, False)}


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Stored pixels turned upright by an EXIF orientation (1-8), as viewers show them."""
    if orientation not in _UPRIGHT:
        return pixels
    transpose, flip_rows, flip_columns = _UPRIGHT[orientation]
    if transpose:
        pixels = np.swapaxes(pixels, 0, 1)
    return np.ascontiguousarray(pixels[::-1 if flip_rows else 1, ::-1 if flip_columns else 1])


def _reduced_flag(data: bytes, size: tuple[int, int] | None, min_side: int | None) -> int:
    """An IMREAD_REDUCED_* flag that keeps the short side >= ``min_side``: JPEGs then decode
    at 1/2, 1/4 or 1/8 scale inside libjpeg, far faster than decoding full size and resizing.
    Other formats gain nothing from it (OpenCV decodes them in full, then resizes) and would
    lose their alpha channel and depth, so they decode unchanged. EXIF orientation is left to
    :func:`apply_orientation`, so every flag gives the same picture."""
    if not size or not min_side or data[:2] != b"\xff\xd8":
        return cv2.IMREAD_UNCHANGED  # never applies EXIF orientation
    short = min(size)
    for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                         (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if short // factor >= min_side:
            return flag | cv2.IMREAD_IGNORE_ORIENTATION
    return cv2.IMREAD_UNCHANGED


def decode_image(data: bytes, where: str = "image", min_side: int | None = None) -> DecodedImage:
    """Decode image bytes to 8-bit grayscale or BGR, with alpha split off, upright by its EXIF
    orientation; what the decoder had to say about a damaged file that still decoded is its
    ``warning``.

    ``min_side``: the caller needs no more than this many pixels on the short side, so large
    JPEGs may be decoded at a reduced scale. Raises ImageDecodeError with a one-line reason
    naming ``where``: NotAnImageError (a subclass) for content of no image format at all.
    """
    kind = image_format(data, where)
    size = header_size(data)
    if size is not None:
        width, height = size
        if width == 0 or height == 0:
            raise ImageDecodeError(f"{where}: image has a zero dimension ({width}x{height})")
        if width * height > MAX_PIXELS:
            raise ImageDecodeError(
                f"{where}: header claims {width}x{height} = {width * height:,} pixels, "
                f"above the {MAX_PIXELS:,}-pixel limit; refusing to decode"
            )
    decoder = decoder_for(kind)
    if decoder is None:
        raise ImageDecodeError(f"{where}: {missing_decoder(kind)}")
    if decoder == "pillow":
        return _decoded(*optional_decoders.decode_with_pillow(data, where, kind, MAX_PIXELS))
    cut = truncation(data)
    if cut:
        raise ImageDecodeError(f"{where}: not a decodable image: {cut}")
    flag = _reduced_flag(data, size, min_side)
    with native_messages.caught() as messages:
        try:
            pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
        except cv2.error as exc:  # some decoders raise instead of returning nothing
            pixels = None
            messages.append(str(exc))
    said = native_messages.one_line(messages)
    if pixels is None or pixels.size == 0:
        raise ImageDecodeError(f"{where}: not a decodable image ({kind.name}: "
                               f"{said or 'corrupt or truncated'})")
    if pixels.dtype != np.uint8:
        pixels = _to_uint8(pixels)
    alpha = None
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels, alpha = pixels[:, :, :3], pixels[:, :, 3]
    orientation = exif_orientation(data)
    if orientation in _UPRIGHT:
        pixels = apply_orientation(pixels, orientation)
        alpha = None if alpha is None else apply_orientation(alpha, orientation)
    return _decoded(pixels, alpha, said or None)


def _decoded(pixels: np.ndarray, alpha: np.ndarray | None,
             warning: str | None = None) -> DecodedImage:
    """The record of decoded pixels: one channel where there was one, or three equal ones."""
    if pixels.ndim == 3 and (pixels.shape[2] == 1 or _is_gray(pixels)):
        pixels = pixels[:, :, 0]
    return DecodedImage(np.ascontiguousarray(pixels), alpha, warning)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    if np.issubdtype(pixels.dtype, np.floating):  # 0..1; a damaged file may hold inf or NaN
        return (np.clip(np.nan_to_num(pixels, posinf=1.0, neginf=0.0), 0, 1) * 255).astype(np.uint8)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _is_gray(bgr: np.ndarray) -> bool:
    """True for a 3-channel image whose channels are equal (a gray PNG stored as RGB)."""
    return bool((bgr[:, :, 0] == bgr[:, :, 1]).all() and (bgr[:, :, 1] == bgr[:, :, 2]).all())


def read_image(path: str | Path, min_side: int | None = None) -> DecodedImage:
    """Read and decode an image file (only the first bytes of anything else: see
    :func:`~edge_runtime.media.formats.read_image_file`); every failure is an ImageDecodeError
    naming the file."""
    return decode_image(read_image_file(path), str(path), min_side)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an 8-bit image."""
    ok, buffer = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError(f"cannot encode an image of shape {pixels.shape} as PNG")
    return buffer.tobytes()


def encode_jpeg(pixels: np.ndarray, quality: int = 80) -> bytes:
    """JPEG bytes of an 8-bit gray or BGR image (``quality`` 0-100): a live view's frames."""
    ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode an image of shape {pixels.shape} as JPEG")
    return buffer.tobytes()
