"""The one module that touches OpenCV: decoding, encoding and the pixel operations built on it.

Importing it imports cv2; the rest of the runtime imports it only where images are handled.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import numpy as np

# Refuse images whose header claims more than this many pixels, before decoding them: a 50 MP
# limit admits any phone photo (48 MP sensors) and stops decompression bombs that would exhaust
# a Pi's memory. OpenCV's own limit is set to the same figure as a backstop for formats whose
# header is not parsed here.
MAX_PIXELS = 50_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
import cv2  # noqa: E402

from edge_runtime.media.decoded import DecodedImage, ImageDecodeError  # noqa: E402


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF, BMP or WebP header, or None when not parsed."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
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


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def truncation(data: bytes) -> str | None:
    """Why a PNG or JPEG is visibly cut short, or None. Some OpenCV builds decode a truncated
    JPEG into a half-grey picture without complaint; a missing end marker tells the truth."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-16:]:
        return "truncated PNG (no IEND chunk at the end)"
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]:
        return "truncated JPEG (no end-of-image marker)"
    return None


def _reduced_flag(size: tuple[int, int] | None, min_side: int | None) -> int:
    """An IMREAD_REDUCED_* flag that keeps the short side >= ``min_side``: JPEGs then decode
    at 1/2, 1/4 or 1/8 scale inside libjpeg, far faster than decoding full size and resizing."""
    if not size or not min_side:
        return cv2.IMREAD_UNCHANGED
    short = min(size)
    for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                         (2, cv2.IMREAD_REDUCED_COLOR_2)):
        if short // factor >= min_side:
            return flag
    return cv2.IMREAD_UNCHANGED


def decode_image(data: bytes, where: str = "image", min_side: int | None = None) -> DecodedImage:
    """Decode image bytes to 8-bit grayscale or BGR, with alpha split off.

    ``min_side``: the caller needs no more than this many pixels on the short side, so large
    images may be decoded at a reduced scale (alpha is then dropped). Raises ImageDecodeError
    with a one-line reason naming ``where``.
    """
    if not data:
        raise ImageDecodeError(f"{where}: empty file")
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
    cut = truncation(data)
    if cut:
        raise ImageDecodeError(f"{where}: not a decodable image: {cut}")
    flag = _reduced_flag(size, min_side)
    try:
        pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    except cv2.error as exc:
        raise ImageDecodeError(f"{where}: cannot decode ({' '.join(str(exc).split())[:120]})") from None
    if pixels is None or pixels.size == 0:
        raise ImageDecodeError(f"{where}: not a decodable image (corrupt, truncated or not an image)")
    if pixels.dtype != np.uint8:
        pixels = _to_uint8(pixels)
    alpha = None
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels, alpha = pixels[:, :, :3], pixels[:, :, 3]
    elif pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 3 and _is_gray(pixels):
        pixels = pixels[:, :, 0]
    return DecodedImage(np.ascontiguousarray(pixels), alpha)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    if np.issubdtype(pixels.dtype, np.floating):
        return np.clip(pixels * 255.0, 0, 255).astype(np.uint8)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _is_gray(bgr: np.ndarray) -> bool:
    """True for a 3-channel image whose channels are equal (a gray PNG stored as RGB)."""
    return bool((bgr[:, :, 0] == bgr[:, :, 1]).all() and (bgr[:, :, 1] == bgr[:, :, 2]).all())


def read_image(path: str | Path, min_side: int | None = None) -> DecodedImage:
    """Read and decode an image file; every failure is an ImageDecodeError naming the file."""
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise ImageDecodeError(f"{path}: is a directory, expected an image file") from None
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_image(data, str(path), min_side)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an 8-bit image."""
    ok, buffer = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError(f"cannot encode an image of shape {pixels.shape} as PNG")
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


def gaussian_blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with the kernel size derived from ``sigma``."""
    return cv2.GaussianBlur(pixels, (0, 0), sigma)


def to_lab(bgr: np.ndarray) -> np.ndarray:
    """CIE L*a*b* as float32 (L 0-100), where colour distances track what people see."""
    return cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)


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
