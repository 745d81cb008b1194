"""What an image is: the one rule, by content (the first bytes), never by name. The directory
scan, files named on the command line, ``fashion-serve``'s uploads and
``fashion-classify-ray``'s listing all go by it: content that matches a format below is an
image (decoded, or an error record where it cannot be), anything else is not an image (counted
and skipped).

No OpenCV here: which decoders this install has is :mod:`edge_runtime.media.decoders`' and
:mod:`edge_runtime.media.optional_decoders`' business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_runtime.media.decoded import ImageDecodeError

HEAD_BYTES = 4096  # enough for every signature below, an ISO-BMFF ftyp box's brands included
HEIF_EXTRA = 'pip install "fashion-edge[heif]"'


class NotAnImageError(ImageDecodeError):
    """Content that is no image format's: a batch counts such a file and goes past it."""


@dataclass(frozen=True)
class ImageFormat:
    """An image format: its name, the suffixes files of it carry, and its decoders in order of
    preference: ``opencv`` (under the key of OpenCV's build information that says whether this
    build has it) and ``pillow`` (Pillow, with pillow-heif for HEIF: the ``heif`` extra)."""

    name: str
    suffixes: tuple[str, ...]
    decoders: tuple[str, ...] = ("opencv",)
    opencv_key: str | None = None  # None: every OpenCV build decodes it


def _ftyp_brands(head: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO-BMFF file's leading ftyp box (HEIF, AVIF)."""
    if head[4:8] != b"ftyp":
        return set()
    end = min(int.from_bytes(head[:4], "big"), len(head))
    return {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}


def _is_bmp(head: bytes) -> bool:
    # "BM" alone starts plenty of text; a BMP's DIB header gives its own size, one of these.
    return head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64,
                                                                            108, 124)


def _is_netpbm(head: bytes) -> bool:
    # P1-P6 (PBM, PGM, PPM), P7 (PAM), then whitespace; PF and Pf are PFM.
    return head[:1] == b"P" and head[1:2] in b"1234567" and head[2:3] in b" \t\r\n"


_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1",
                b"msf1"}

PNG = ImageFormat("PNG", (".png", ".apng"), opencv_key="PNG")
JPEG = ImageFormat("JPEG", (".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"), opencv_key="JPEG")
GIF = ImageFormat("GIF", (".gif",), ("opencv", "pillow"), "GIF")
BMP = ImageFormat("BMP", (".bmp", ".dib"))
WEBP = ImageFormat("WebP", (".webp",), opencv_key="WEBP")
TIFF = ImageFormat("TIFF", (".tif", ".tiff"), opencv_key="TIFF")
NETPBM = ImageFormat("PNM", (".pbm", ".pgm", ".ppm", ".pnm", ".pam"), opencv_key="PXM")
PFM = ImageFormat("PFM", (".pfm",), opencv_key="PFM")
SUN_RASTER = ImageFormat("Sun raster", (".ras", ".sr"), opencv_key="SUNRASTER")
RADIANCE = ImageFormat("Radiance HDR", (".hdr", ".pic"), opencv_key="HDR")
JPEG_2000 = ImageFormat("JPEG 2000", (".jp2", ".j2k", ".j2c", ".jpf", ".jpx"),
                        opencv_key="JPEG 2000")
AVIF = ImageFormat("AVIF", (".avif",), ("opencv", "pillow"), "AVIF")
HEIF = ImageFormat("HEIF", (".heic", ".heif", ".hif"), ("pillow",))

# (format, test of the first bytes), in the order they are tried.
SIGNATURES = (
    (PNG, lambda h: h[:8] == b"\x89PNG\r\n\x1a\n"),
    (JPEG, lambda h: h[:3] == b"\xff\xd8\xff"),  # MPO (camera multi-picture) included
    (GIF, lambda h: h[:6] in (b"GIF87a", b"GIF89a")),
    (BMP, _is_bmp),
    (WEBP, lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP"),
    (TIFF, lambda h: h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")),  # and BigTIFF
    (NETPBM, _is_netpbm),
    (PFM, lambda h: h[:2] in (b"PF", b"Pf") and h[2:3] in b" \t\r\n"),
    (SUN_RASTER, lambda h: h[:4] == b"\x59\xa6\x6a\x95"),
    (RADIANCE, lambda h: h[:10] == b"#?RADIANCE" or h[:6] == b"#?RGBE"),
    (JPEG_2000, lambda h: h[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or h[:4] == b"\xff\x4f\xff\x51"),
    (AVIF, lambda h: bool(_ftyp_brands(h) & _AVIF_BRANDS)),  # before HEIF: AVIF says mif1 too
    (HEIF, lambda h: bool(_ftyp_brands(h) & _HEIF_BRANDS)),
)
IMAGE_SUFFIXES = frozenset(s for kind, _ in SIGNATURES for s in kind.suffixes)


def sniff(head: bytes) -> ImageFormat | None:
    """The format whose signature the first bytes of a file match, or None: not an image."""
    return next((kind for kind, matches in SIGNATURES if matches(head)), None)


def image_format(data: bytes, where: str = "image") -> ImageFormat:
    """The format of ``data`` (a file's bytes, or at least its first HEAD_BYTES) named
    ``where``. NotAnImageError when no signature matches; an empty file is one too, unless its
    name says it is an image (then ImageDecodeError: a photo that lost its content)."""
    if not data:
        if Path(where).suffix.lower() in IMAGE_SUFFIXES:
            raise ImageDecodeError(f"{where}: empty file")
        raise NotAnImageError(f"{where}: not an image (empty file)")
    kind = sniff(data[:HEAD_BYTES])
    if kind is None:
        raise NotAnImageError(f"{where}: not an image")
    return kind


def read_image_file(path: str | Path) -> bytes:
    """The bytes of an image file; only the first HEAD_BYTES of anything else are read
    (NotAnImageError), so that a large video or archive beside the photos costs nothing.
    Every failure is an ImageDecodeError naming the file."""
    try:
        with open(path, "rb") as file:
            head = file.read(HEAD_BYTES)
            image_format(head, str(path))
            return head + file.read()
    except IsADirectoryError:
        raise ImageDecodeError(f"{path}: is a directory, expected an image file") from None
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read ({exc.strerror or exc})") from None
