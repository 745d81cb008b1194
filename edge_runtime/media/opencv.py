"""OpenCV, loaded with the decoders' pixel limit in place: every module of the runtime that
calls OpenCV imports ``cv2`` from here, so the limit is set before the library first loads
(OpenCV reads it once, when it loads)."""

from __future__ import annotations

import os

# Refuse images whose header claims more than this many pixels, before decoding them: a 50 MP
# limit admits any phone photo (48 MP sensors) and stops decompression bombs that would exhaust
# a Pi's memory. OpenCV's own limit is set to the same figure as a backstop for formats whose
# header is not parsed here.
MAX_PIXELS = 50_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
import cv2  # noqa: E402

__all__ = ["MAX_PIXELS", "cv2"]
