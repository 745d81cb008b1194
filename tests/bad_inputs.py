"""The bad-input corpus: one file of each kind that every command must refuse with a one-line
error and go past. Written by the tests, scripts/bench_ray.py and scripts/make_check_inputs.py
(the arm64 check) alike."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with one tiny IDAT: it never decodes that large."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))
            + chunk(b"IEND", b""))


def write_bad_inputs(out: Path) -> None:
    """``out/`` (which must not exist yet) with an empty file, a text file, a truncated JPEG and
    PNG, a PNG 0 pixels wide, a pixel bomb and a dangling link; an empty folder beside it."""
    out.mkdir()
    (out / "empty.png").write_bytes(b"")
    (out / "text.png").write_text("not an image at all\n")
    jpeg = cv2.imencode(".jpg", np.full((400, 400, 3), 200, np.uint8))[1].tobytes()
    (out / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    noise = np.random.default_rng(0).integers(0, 255, (300, 300), np.uint8)
    (out / "truncated.png").write_bytes(cv2.imencode(".png", noise)[1].tobytes()[:2000])
    (out / "zero_width.png").write_bytes(png_with_header(0, 28))
    (out / "pixel_bomb.png").write_bytes(png_with_header(100_000, 100_000))
    (out / "dangling.png").symlink_to("missing-target.png")  # relative: the same in a chroot
    (out.parent / "empty_dir").mkdir()
