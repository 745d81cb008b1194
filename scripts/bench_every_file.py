"""Point ``fashion-classify`` at a folder nobody curated and check that every file is accounted for.

Writes a corpus of about 1,000 files (``--copies`` scales it): test-set garments as photos in
every format a decoder here may read (PNG, APNG, JPEG, progressive JPEG, MPO, GIF still and
animated, BMP, WebP lossy, lossless and animated, TIFF, PNM, PAM, PFM, Sun raster, Radiance HDR,
JPEG 2000 and its codestream, AVIF and HEIC where an encoder is installed), some renamed; each
cut short, its header scrambled, or bytes flipped throughout (a fuzzer's inputs); pixel bombs;
and files that are not images (other image formats no decoder here reads, video, archives,
documents, macOS and Windows litter, empty files). Then runs the command as a user does, in a
fresh process each time: the folder, every file named, and the folder with ``--all-files``,
and prints the figures: files, records, the summary line, stderr lines, peak RSS.

    .venv/bin/python scripts/bench_every_file.py [--work DIR] [--copies 1]

Needs Pillow (the ``heif`` extra) for the formats OpenCV does not write, and ``/usr/bin/time``
(Debian's ``time`` package) for the peak RSS. Exit status 0 when
every check passes: each file a record or counted, the scan and the named files agree, stderr
only the summary, no traceback, peak RSS <= 200 MiB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bad_inputs import png_with_header  # noqa: E402
from tests.test_photos import synthetic_photo  # noqa: E402

MAX_RSS_MIB = 200
PHOTOS = 12  # per copy: about 1,000 files
# Other formats' first bytes: image formats no decoder here reads, and everything else a camera
# dump or a shop export holds.
OTHER_FILES = {
    ".fli": struct.pack("<IH", 4000, 0xAF11), ".psd": b"8BPS\x00\x01", ".exr": b"v/1\x01\x02",
    ".jxl": b"\xff\x0a\xfa", ".cr3": b"\x00\x00\x00\x18ftypcrx ", ".xcf": b"gimp xcf v011",
    ".svg": b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>",
    ".mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", ".mov": b"\x00\x00\x00\x14ftypqt  ",
    ".avi": b"RIFF\x00\x10\x00\x00AVI LIST", ".wav": b"RIFF\x00\x10\x00\x00WAVEfmt ",
    ".mp3": b"ID3\x04\x00", ".pdf": b"%PDF-1.7\n", ".gz": b"\x1f\x8b\x08\x00",
    ".7z": b"7z\xbc\xaf\x27\x1c", ".exe": b"MZ\x90\x00", ".so": b"\x7fELF\x02\x01\x01",
    ".db": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ".sqlite": b"SQLite format 3\x00",
    ".json": b'{"items": []}\n', ".csv": b"sku,label\n1,Bag\n", ".html": b"<!doctype html>",
    ".xmp": b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>", ".txt": b"BMW 320d, shop notes\n",
}
PILLOW_ONLY = {".ico": "ICO", ".tga": "TGA", ".qoi": "QOI", ".pcx": "PCX", ".dds": "DDS",
               ".sgi": "SGI", ".icns": "ICNS", ".eps": "EPS", ".im": "IM"}


def photos(copies: int) -> list[np.ndarray]:
    """BGR photos of test-set garments, 640x480, light or textured background."""
    from train.data import load_fashion_mnist

    rng = np.random.default_rng(0)
    garments = load_fashion_mnist().test.images[: PHOTOS * copies]
    return [cv2.imdecode(np.frombuffer(synthetic_photo(g, ("light", "wood")[i % 2], rng),
                                       np.uint8), cv2.IMREAD_COLOR)
            for i, g in enumerate(garments)]


def pillow_bytes(bgr: np.ndarray, fmt: str, frames: int = 1, **options) -> bytes | None:
    """``bgr`` written by Pillow as ``fmt`` (``frames`` > 1: an animation, each frame mirrored
    from the last), or None where this Pillow cannot write it."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    if frames > 1:
        options |= {"save_all": True, "append_images": [
            image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if n % 2 == 0 else image
            for n in range(frames - 1)]}
    out = io.BytesIO()
    try:
        image.save(out, fmt, **options)
    except (KeyError, OSError, ValueError):
        return None
    return out.getvalue()


def encodings(bgr: np.ndarray) -> dict[str, bytes]:
    """One photo in every image format the encoders here write, by suffix."""
    def cv(ext: str, pixels: np.ndarray = bgr, params: tuple = ()) -> bytes | None:
        if not cv2.haveImageWriter(f"x{ext}"):
            return None
        ok, buffer = cv2.imencode(ext, pixels, list(params))
        return buffer.tobytes() if ok else None

    small = cv2.resize(bgr, (320, 240), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    found = {
        ".png": cv(".png"), ".jpg": cv(".jpg"), ".bmp": cv(".bmp", small),
        ".progressive.jpg": cv(".jpg", bgr, (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
        ".webp": cv(".webp"), ".lossless.webp": cv(".webp", small, (cv2.IMWRITE_WEBP_QUALITY, 101)),
        ".tif": cv(".tif", small), ".ppm": cv(".ppm", small), ".pgm": cv(".pgm", gray),
        ".pam": cv(".pam", small), ".pfm": cv(".pfm", small.astype(np.float32) / 255),
        ".ras": cv(".ras", small), ".hdr": cv(".hdr", small.astype(np.float32) / 255),
        ".jp2": cv(".jp2", small), ".avif": cv(".avif"), ".gif": pillow_bytes(small, "GIF"),
        ".j2k": pillow_bytes(small, "JPEG2000"),
        ".anim.gif": pillow_bytes(small, "GIF", frames=3, duration=100),
        ".anim.webp": pillow_bytes(small, "WEBP", frames=3, duration=100),
        ".apng": pillow_bytes(small, "PNG", frames=3, duration=100),
        ".mpo": pillow_bytes(bgr, "MPO", frames=2),
    }
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        found[".heic"] = pillow_bytes(bgr, "HEIF", quality=80)
    except ImportError:
        pass
    return {suffix: data for suffix, data in found.items() if data}


def png(width: int, height: int, rows: bytes) -> bytes:
    """A gray PNG of ``rows`` (each a filter byte and ``width`` pixels)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def damaged(data: bytes, how: str, rng: np.random.Generator) -> bytes:
    """``data`` cut short, its header scrambled, or bytes flipped throughout (a fuzzer's)."""
    if how == "cut":
        return data[: int(len(data) * rng.uniform(0.05, 0.9))]
    buffer = bytearray(data)
    if how == "header":
        start = 4 if buffer[:2] != b"\xff\xd8" else 3  # keep the signature: still "an image"
        buffer[start:64] = rng.integers(0, 256, len(buffer[start:64]), np.uint8).tobytes()
    else:
        for at in rng.integers(16, len(buffer), max(1, len(buffer) // 2000)):
            buffer[at] ^= int(rng.integers(1, 256))
    return bytes(buffer)


def write_corpus(out: Path, copies: int) -> int:
    """Write the corpus into ``out``; returns how many files it holds."""
    rng = np.random.default_rng(1)
    for i, bgr in enumerate(photos(copies)):
        folder = out / f"shoot_{i // 5:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        formats = encodings(bgr)
        for suffix, data in formats.items():
            (folder / f"garment_{i:03d}{suffix}").write_bytes(data)
            if i % 4 == 0:  # renamed: a JPEG sent as .png, anything as .dat or with no name
                (folder / f"renamed_{i:03d}{suffix}.dat").write_bytes(data)
        for how in ("cut", "header", "flips"):
            for suffix, data in list(formats.items())[i % 3 :: 3]:
                (folder / f"{how}_{i:03d}{suffix}").write_bytes(damaged(data, how, rng))
        for suffix, fmt in PILLOW_ONLY.items():
            if (data := pillow_bytes(bgr, fmt)) is not None:
                (folder / f"garment_{i:03d}{suffix}").write_bytes(data)
        for suffix, head in OTHER_FILES.items():
            (folder / f"file_{i:03d}{suffix}").write_bytes(head + rng.bytes(int(rng.integers(0, 3000))))
    litter = out / "litter"
    litter.mkdir()
    (litter / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(600))
    (litter / "._IMG_0001.JPG").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X" + bytes(80))
    (litter / "Thumbs.db").write_bytes(OTHER_FILES[".db"] + bytes(500))
    (litter / ".gitkeep").write_bytes(b"")
    (litter / "IMG_0002.JPG").write_bytes(b"")  # a copy that lost its content
    with zipfile.ZipFile(litter / "export.zip", "w") as archive:
        archive.writestr("a.txt", "x")
    with tarfile.open(litter / "backup.tar", "w") as archive:
        archive.add(__file__, arcname="x.py")
    bombs = out / "bombs"
    bombs.mkdir()
    (bombs / "header_bomb.png").write_bytes(png_with_header(100_000, 100_000))
    (bombs / "header_bomb.gif").write_bytes(b"GIF89a" + struct.pack("<HH", 65535, 65535) + bytes(20))
    # A real one: 10,000 x 10,000 black pixels deflate to about 100 KB.
    (bombs / "zeros_100mp.png").write_bytes(png(10_000, 10_000, b"\x00" * 10_001 * 10_000))
    return sum(len(files) for _, _, files in os.walk(out))


def run(args: list[str], log: Path) -> tuple[int, str, float]:
    """Run ``fashion-classify`` in a fresh process under ``/usr/bin/time`` (a child's peak RSS
    as the kernel counts it starts from its parent's at the fork: this one's is large): exit
    status, stderr, peak RSS in MiB."""
    rss = log.with_suffix(".rss")
    with open(log, "w") as err:
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), sys.executable, "-c",
                               "import sys\nfrom edge_runtime.apps.classify import main\n"
                               "sys.exit(main(sys.argv[1:]))", *args], stderr=err, cwd=ROOT)
    return done.returncode, log.read_text(), int(rss.read_text().split()[-1]) / 1024


def records(path: Path) -> dict[str, dict]:
    return {r["path"]: r for r in map(json.loads, path.read_text().splitlines())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="keep the files here (default: a temporary "
                        "directory, left in place and named at the end)")
    parser.add_argument("--copies", type=int, default=1,
                        help=f"{PHOTOS} photos per copy, about 1,000 files (default 1)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_every_file_"))
    corpus = work / "dump"
    files = write_corpus(corpus, args.copies)
    every = sorted(str(Path(root) / name) for root, _, names in os.walk(corpus) for name in names)

    status, err, rss = run([str(corpus), "--output", str(work / "scan.jsonl")], work / "scan.err")
    _, _, rss_all = run([str(corpus), "--all-files", "--output", str(work / "all.jsonl")],
                        work / "all.err")
    _, _, rss_named = run([*every, "--all-files", "--output", str(work / "named.jsonl")],
                          work / "named.err")
    scanned, everything, named = (records(work / f"{name}.jsonl")
                                  for name in ("scan", "all", "named"))
    lines = err.splitlines()
    peak = max(rss, rss_all, rss_named)
    kinds = {kind: sum(kind in r for r in everything.values()) for kind in ("label", "error",
                                                                               "skipped")}
    print(f"corpus: {files:,} files in {work}")
    print(f"records: {len(scanned):,} ({kinds['label']:,} classified, {kinds['error']:,} errors; "
          f"{sum('warning' in r for r in scanned.values())} with a decoder's warning); "
          f"--all-files {len(everything):,} ({kinds['skipped']:,} not images); exit status {status}")
    print(f"stderr ({len(lines)} lines): {err.strip()}")
    print(f"peak RSS: {rss:.1f} MiB (folder), {rss_all:.1f} (--all-files), {rss_named:.1f} "
          "(every file named)")
    checks = {
        "every file a record or counted": sorted(everything) == every and
        f"{files:,} files: " in err,
        "the scan and the named files agree": named == everything,
        "stderr only the summary": len(lines) == 1 and lines[0].startswith("fashion-classify: "),
        "no traceback": "Traceback" not in err + (work / "named.err").read_text(),
        f"peak RSS <= {MAX_RSS_MIB} MiB": peak <= MAX_RSS_MIB,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}: {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
