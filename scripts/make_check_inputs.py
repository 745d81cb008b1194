"""Make the fixed inputs of the arm64 check (``scripts/check_arm64.sh``) in one folder.

The folder holds, under names that are the same on every run:

- ``fmnist/NNNN.png``: the first N Fashion-MNIST test images, as written by OpenCV;
- ``photos/real_*.jpg``: the first photo of each class folder of a labelled photo folder
  (``../shared/real-photos``), copied byte for byte, when one is given;
- ``photos/shot_*.jpg``: test-set garments rendered as product shots (a coloured garment on
  a light background, JPEG), one per class for the first classes;
- ``video/ffv1.avi`` and ``video/mjpeg.avi``: a short video of garments held up in the middle
  of a 640x480 view, lossless (FFV1: decodes to the same pixels everywhere) and MJPEG (what a
  USB webcam sends; FFmpeg's decoder gives slightly different pixels on each architecture);
- ``bad/``: every kind of file ``fashion-classify`` must refuse in one line (empty, not an
  image, truncated JPEG and PNG, zero-sized, a pixel bomb, a dangling link), ``empty_dir/``.

Needs numpy and OpenCV (the edge environment), not TensorFlow.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the shared bad-input corpus is in tests/

from tests.bad_inputs import write_bad_inputs  # noqa: E402
from train.data import DataError, DataNotFoundError, find_data_dir, load_split  # noqa: E402

VIDEO_SIZE = (640, 480)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def product_shot(garment: np.ndarray, size: tuple[int, int] = VIDEO_SIZE) -> np.ndarray:
    """A 28x28 test-set garment photographed: a coloured garment with its own shading, centred
    on a light background, as a BGR frame of ``size`` (width, height)."""
    width, height = size
    side = height // 2
    canvas = np.full((height, width, 3), 225.0, np.float32)
    top, left = (height - side) // 2, (width - side) // 2
    big = cv2.resize(garment, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    alpha = np.clip(big / 40.0, 0, 1)[:, :, None]  # garment pixels opaque, its background not
    shade = np.array([140.0, 90.0, 50.0]) * (1.2 - big[:, :, None] / 255.0 * 0.6)
    patch = canvas[top : top + side, left : left + side]
    canvas[top : top + side, left : left + side] = alpha * shade + (1 - alpha) * patch
    return np.clip(canvas, 0, 255).astype(np.uint8)


def write_fmnist(out: Path, images: np.ndarray) -> None:
    """The test images as 28x28 grayscale PNGs."""
    out.mkdir()
    for i, image in enumerate(images):
        cv2.imwrite(str(out / f"{i:04d}.png"), image)


def first_photo_per_class(folder: Path, count: int) -> list[Path]:
    """The first photo (by name) of each class subfolder, at most ``count`` in all."""
    photos = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            photos.append(files[0])
    return photos[:count]


def write_photos(out: Path, images: np.ndarray, labels: np.ndarray, shots: int,
                 real_photos: Path | None, count: int) -> int:
    """Product shots of the first test garment of each of the first ``shots`` classes, and
    real photos copied from ``real_photos``; returns how many real photos were copied."""
    out.mkdir()
    for c in range(shots):
        i = int(np.flatnonzero(labels == c)[0])
        cv2.imwrite(str(out / f"shot_{c}.jpg"), product_shot(images[i]),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
    copied = first_photo_per_class(real_photos, count) if real_photos else []
    for photo in copied:
        shutil.copyfile(photo, out / f"real_{photo.parent.name}{photo.suffix.lower()}")
    return len(copied)


def write_video(path: Path, codec: str, images: np.ndarray, labels: np.ndarray, garments: int,
                hold: int, fps: float = 15.0) -> None:
    """A video (``codec``: a FourCC) of ``garments`` test garments of different classes, each
    held for ``hold`` frames."""
    path.parent.mkdir(exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, VIDEO_SIZE)
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write {codec} video here")
    for c in (9, 1, 2, 7)[:garments]:
        frame = product_shot(images[int(np.flatnonzero(labels == c)[0])])
        for _ in range(hold):
            writer.write(frame)
    writer.release()


def make_inputs(out: Path, pngs: int, shots: int, real_photos: Path | None, photos: int,
                data_dir: Path | None = None) -> dict[str, int]:
    """Write every input into ``out`` (which must not exist yet); returns the counts."""
    test = load_split(find_data_dir(data_dir), "test")
    out.mkdir(parents=True)
    write_fmnist(out / "fmnist", test.images[:pngs])
    copied = write_photos(out / "photos", test.images, test.labels, shots, real_photos, photos)
    for codec, name in (("FFV1", "ffv1.avi"), ("MJPG", "mjpeg.avi")):
        write_video(out / "video" / name, codec, test.images, test.labels, garments=4, hold=6)
    write_bad_inputs(out / "bad")
    return {"pngs": pngs, "shots": shots, "real_photos": copied, "video_frames": 24}


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and write the inputs; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to create (must not exist)")
    parser.add_argument("--pngs", type=int, default=500, help="test-set PNGs (default 500)")
    parser.add_argument("--shots", type=int, default=6, help="rendered product shots (default 6)")
    parser.add_argument("--real-photos", type=Path, metavar="DIR",
                        help="labelled photo folder (one subfolder per class)")
    parser.add_argument("--photos", type=int, default=10,
                        help="real photos to take, one per class (default 10)")
    parser.add_argument("--data-dir", type=Path, help="folder of the Fashion-MNIST IDX files")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists; give a new folder")
    if not 0 < args.pngs <= 10_000 or not 0 <= args.shots <= 10 or args.photos < 0:
        parser.error("--pngs must be 1..10000, --shots 0..10, --photos >= 0")
    if args.real_photos is not None and not args.real_photos.is_dir():
        parser.error(f"--real-photos {args.real_photos}: not a folder")
    try:
        counts = make_inputs(args.out, args.pngs, args.shots, args.real_photos, args.photos,
                             args.data_dir)
    except (DataNotFoundError, DataError, OSError) as exc:
        print(f"make_check_inputs: error: {exc}", file=sys.stderr)
        return 1
    print(f"{counts['pngs']} test-set PNGs, {counts['shots']} rendered garments, "
          f"{counts['real_photos']} real photos, {counts['video_frames']}-frame videos (FFV1, MJPEG), "
          "7 bad files, an empty folder and a missing path")
    return 0


if __name__ == "__main__":
    sys.exit(main())
