"""What an image file's bytes say before it is decoded: its size from the header, whether it is
cut short, and its EXIF orientation (PNG, JPEG, GIF, BMP, WebP). Plain bytes, no OpenCV."""

from __future__ import annotations

import struct
from collections.abc import Iterator

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
