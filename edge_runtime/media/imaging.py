"""The one module that touches OpenCV: decoding, encoding and the pixel operations built on it.

Importing it imports cv2; the rest of the runtime imports it only where images are handled.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# Refuse images whose header claims more than this many pixels, before decoding them: a 50 MP
# limit admits any phone photo (48 MP sensors) and stops decompression bombs that would exhaust
# a Pi's memory. OpenCV's own limit is set to the same figure as a backstop for formats whose
# header is not parsed here.
MAX_PIXELS = 50_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
import cv2  # noqa: E402

from edge_runtime import native_messages  # noqa: E402
from edge_runtime.media import optional_decoders  # noqa: E402
from edge_runtime.media.decoded import DecodedImage, ImageDecodeError  # noqa: E402
from edge_runtime.media.decoders import decoder_for, missing_decoder  # noqa: E402
from edge_runtime.media.formats import image_format, read_image_file  # noqa: E402


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOS, _EOI, _APP1 = 0xDA, 0xD9, 0xE1


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF, BMP or WebP header, or None when not parsed."""
    if data[:8] == _PNG_SIGNATURE and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        if data[12:16] == b"VP8X":
            w = int.from_bytes(data[24:27], "little") + 1
            h = int.from_bytes(data[27:30], "little") + 1
            return w, h
        return None
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, payload offset, payload length) of each JPEG header segment, up to and including
    the first start-of-scan; stops early where the data ends or holds no marker."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == _EOI:
            return
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a payload
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        yield marker, pos + 4, length - 2
        if marker == _SOS:
            return
        pos += 2 + length


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    for marker, start, length in _jpeg_segments(data):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and length >= 5 \
                and start + 5 <= len(data):
            height, width = struct.unpack(">HH", data[start + 1 : start + 5])
            return width, height
    return None


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload offset, payload length) of each PNG chunk that starts inside the data."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield kind, pos + 8, length
        pos += 12 + length


def truncation(data: bytes) -> str | None:
    """Why a PNG or JPEG is cut short, or None. Some OpenCV builds decode a truncated JPEG into
    a half-grey picture without complaint; a missing end marker tells the truth.

    Data after the end is no defect (phones append a video to Motion Photos, or a second
    picture), so the end is looked for where it belongs: the PNG chunk chain is followed to its
    IEND chunk, and a JPEG's end-of-image marker is looked for after its start of scan (an
    EXIF thumbnail before it has an end marker of its own)."""
    if data[:8] == _PNG_SIGNATURE:
        if not any(kind == b"IEND" and start + length + 4 <= len(data)
                   for kind, start, length in _png_chunks(data)):
            return "truncated PNG (no IEND chunk)"
    elif data[:2] == b"\xff\xd8":
        scan = next((start + length for marker, start, length in _jpeg_segments(data)
                     if marker == _SOS), None)
        if scan is None:
            return "truncated or corrupt JPEG (its headers end before the image data)"
        # Entropy-coded data never holds FF D9, so one anywhere after the scan ends the image;
        # it is usually at the end of the file, so look there first.
        if data.find(b"\xff\xd9", max(scan, len(data) - 1024)) < 0 and \
                data.find(b"\xff\xd9", scan) < 0:
            return "truncated JPEG (no end-of-image marker after the image data)"
    return None


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation tag (1-8; 1 is upright as stored) of a JPEG (APP1 segment) or PNG
    (eXIf chunk); 1 when there is none or it cannot be read."""
    if data[:2] == b"\xff\xd8":
        for marker, start, length in _jpeg_segments(data):
            if marker == _APP1 and data[start : start + 6] == b"Exif\x00\x00":
                return _tiff_orientation(data[start + 6 : start + length])
    elif data[:8] == _PNG_SIGNATURE:
        for kind, start, length in _png_chunks(data):
            if kind == b"eXIf":
                return _tiff_orientation(data[start : start + length])
            if kind == b"IDAT":  # eXIf must come before the image data
                break
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    """Tag 0x0112 of the first IFD of a TIFF structure (EXIF's container), or 1."""
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(tiff[:4])
    if order is None:
        return 1
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
            tag, kind, _, value = struct.unpack_from(order + "HHIH", tiff, entry)
            if tag == 0x0112:
                return value if kind == 3 and 1 <= value <= 8 else 1
    except struct.error:  # offsets pointing outside the segment: no usable tag
        return 1
    return 1


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


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """8-bit grayscale (ITU-R BT.601 luma, as Fashion-MNIST's conversion) of gray or BGR pixels."""
    return pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """RGB (what the photo models take) of gray or BGR pixels."""
    return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB if pixels.ndim == 2 else cv2.COLOR_BGR2RGB)


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with area averaging (down) or bilinear (up)."""
    shrinking = width * height < pixels.shape[0] * pixels.shape[1]
    return cv2.resize(pixels, (width, height),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def shrink(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize for a model's input: area averaging by the largest whole factor, then bilinear
    for the rest (less than 2x). Nearly what area averaging gives, at a tenth of its cost when
    the factor is not whole (OpenCV's general area path: 1.4 ms against 0.2 for a 534x400
    photo to 224x168)."""
    factor = int(min(pixels.shape[1] / width, pixels.shape[0] / height))
    if factor >= 2:
        pixels = cv2.resize(pixels, (pixels.shape[1] // factor, pixels.shape[0] // factor),
                            interpolation=cv2.INTER_AREA)
    return cv2.resize(pixels, (width, height), interpolation=cv2.INTER_LINEAR)


def gaussian_blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with the kernel size derived from ``sigma``."""
    return cv2.GaussianBlur(pixels, (0, 0), sigma)


# sRGB (D65) to CIE XYZ as OpenCV defines it, X and Z divided by the white point; rows B, G, R.
_BGR_TO_XYZ = (np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
               / np.array([[0.950456], [1.0], [1.088754]])).T[::-1].astype(np.float32)
_LEVELS = np.arange(256) / 255.0
_LINEAR = np.where(_LEVELS <= 0.04045, _LEVELS / 12.92,  # sRGB's transfer curve undone
                   ((_LEVELS + 0.055) / 1.055) ** 2.4).astype(np.float32)
_LAB_EPSILON = 0.008856  # (6/29)^3: below it L*a*b* is linear in XYZ


def to_lab(bgr: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of a uint8 BGR image as float32 (L 0-100), where colour distances track
    what people see. By the formula, in numpy: cv2.cvtColor's first L*a*b* conversion builds
    5 MB of lookup tables that the process keeps (4% of the web server's memory target)."""
    xyz = _LINEAR[bgr] @ _BGR_TO_XYZ
    # Cube roots as exp(log(x) / 3): numpy's vectorised exp and log are 5x faster than cbrt.
    f = np.exp(np.log(np.maximum(xyz, _LAB_EPSILON)) * np.float32(1 / 3))
    dark = xyz <= _LAB_EPSILON
    if dark.any():
        f[dark] = xyz[dark] * np.float32(7.787) + np.float32(16 / 116)
    lab = np.empty_like(xyz)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def kmeans_centers(samples: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` cluster centres of float32 ``samples`` (N, D) and the share of samples in each;
    deterministic for a given seed."""
    cv2.setRNGSeed(seed)
    k = min(k, len(samples))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    _, assigned, centers = cv2.kmeans(samples.astype(np.float32), k, None, criteria, 1,
                                      cv2.KMEANS_PP_CENTERS)
    return centers, np.bincount(assigned.ravel(), minlength=k) / len(assigned)


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of 8-bit ``values``."""
    threshold, _ = cv2.threshold(values, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(threshold)


def clean_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Open then close a boolean mask with an elliptical kernel: drops specks, bridges gaps."""
    size = 2 * radius + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel).astype(bool)


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label image and per-label stats (x, y, w, h, area) of a boolean mask; label 0 is empty."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a boolean mask (background regions not connected to the border)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8), (0, 0), 1)
    return (padded | (1 - flood)).astype(bool)[1:-1, 1:-1]


def render_confusion_matrix(matrix: np.ndarray, labels, title: str) -> bytes:
    """A confusion-matrix heatmap as PNG bytes, drawn with OpenCV (no matplotlib on a device).

    Cells are shaded by the fraction of their row (true class) and show the raw count.
    """
    cell, left, top = 56, 130, 70
    n = len(labels)
    canvas = np.full((top + cell * n + 110, left + cell * n + 20, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(canvas, title, (10, 28), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "rows: true class, columns: predicted", (10, 52), font, 0.45,
                (80, 80, 80), 1, cv2.LINE_AA)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    for row in range(n):
        cv2.putText(canvas, labels[row][:14], (6, top + row * cell + cell // 2 + 5), font, 0.42,
                    (0, 0, 0), 1, cv2.LINE_AA)
        for col in range(n):
            x, y = left + col * cell, top + row * cell
            shade = int(255 * (1 - rates[row, col]))
            cv2.rectangle(canvas, (x, y), (x + cell - 1, y + cell - 1), (255, shade, shade), -1)
            cv2.rectangle(canvas, (x, y), (x + cell - 1, y + cell - 1), (200, 200, 200), 1)
            colour = (255, 255, 255) if rates[row, col] > 0.5 else (0, 0, 0)
            text = str(int(matrix[row, col]))
            cv2.putText(canvas, text, (x + cell // 2 - 5 * len(text), y + cell // 2 + 5), font,
                        0.45, colour, 1, cv2.LINE_AA)
    for col in range(n):  # column labels, written vertically below the grid
        label = np.full((cell, 100, 3), 255, np.uint8)
        cv2.putText(label, labels[col][:14], (2, cell // 2 + 5), font, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
        rotated = cv2.rotate(label, cv2.ROTATE_90_CLOCKWISE)
        y0 = top + n * cell + 5
        canvas[y0 : y0 + 100, left + col * cell : left + (col + 1) * cell] = rotated
    return encode_png(canvas)


# ---------------------------------------------------------------- video: capture, record, show

def open_capture(target: int | str, width: int | None = None, height: int | None = None,
                 fps: float | None = None):
    """An opened ``cv2.VideoCapture`` for a camera index, a video file or a stream URL, or None
    when it cannot be opened. Size and rate are requests; the camera may pick others."""
    capture = cv2.VideoCapture(target, cv2.CAP_V4L2) if isinstance(target, int) else \
        cv2.VideoCapture(target)
    if not capture.isOpened() and isinstance(target, int):
        capture = cv2.VideoCapture(target)  # V4L2 is Linux-only; let OpenCV choose elsewhere
    if not capture.isOpened():
        capture.release()
        return None
    for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                        (cv2.CAP_PROP_FPS, fps)):
        if value:
            capture.set(prop, value)
    return capture


def frame_count(capture) -> int:
    """Frames a video file's header announces (0 when unknown, as for cameras and streams)."""
    return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))


def open_writer(path: str, width: int, height: int, fps: float):
    """A video writer (MJPG in .avi, mp4v otherwise) or None when OpenCV cannot write it."""
    codec = "MJPG" if str(path).lower().endswith(".avi") else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    return writer if writer.isOpened() else None


def annotate(frame: np.ndarray, roi: tuple[int, int, int, int], text: str) -> np.ndarray:
    """A copy of ``frame`` with the ROI box and a caption (label, score, FPS) drawn on it."""
    out = frame.copy() if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    x, y, w, h = roi
    cv2.rectangle(out, (x, y), (x + w, y + h), (0, 220, 0), 2)
    cv2.rectangle(out, (0, 0), (out.shape[1], 30), (0, 0, 0), -1)
    cv2.putText(out, text, (8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def display_available() -> str | None:
    """None when windows can be shown, else why not (no display, or a headless OpenCV)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY is not set; over SSH use JSON output or --record FILE)"
    try:
        cv2.namedWindow("fashion-classify probe")
        cv2.destroyWindow("fashion-classify probe")
    except cv2.error:
        return ("this OpenCV has no GUI support (opencv-python-headless); "
                "pip install opencv-python for windows, or use --record FILE")
    return None


def show(window: str, frame: np.ndarray) -> bool:
    """Show a frame; False when the user pressed q or Esc."""
    cv2.imshow(window, frame)
    return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)


def close_windows() -> None:
    """Close every window :func:`show` opened."""
    cv2.destroyAllWindows()


def absdiff_gray(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per-pixel absolute difference, as float32, of two same-sized images (max over channels)."""
    diff = cv2.absdiff(frame, background)
    return (diff.max(axis=2) if diff.ndim == 3 else diff).astype(np.float32)
