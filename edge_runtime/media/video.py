"""Video through OpenCV: opening a camera, file or stream, writing a recording, drawing the live
caption, and showing frames in a window."""

from __future__ import annotations

import os
import sys

import numpy as np

from edge_runtime.media.opencv import cv2


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
