"""The photo model's training pictures, each seen several ways and prepared as the device does.

Real photos come from the photo list (:mod:`train.photo.photo_list`): every photo is checked
against its sha256, decoded as the device decodes it, and seen as shot plus re-shot (framing,
tilt, mirror, light, white balance and distance change as between two shots of the same garment).
Fashion-MNIST garments come rendered as product shots and casual photos
(:mod:`train.photo.renderings`). Every view goes through the device's own preparation
(:func:`edge_runtime.photo.preprocess.letterbox`), so the model learns from what it will see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.interpreter.tensors import ImageLayout
from edge_runtime.media import image_io
from edge_runtime.photo.preprocess import letterbox, photo_decode_side, photo_pixels
from train.photo.assemble import in_place
from train.photo.photo_list import Photo
from train.photo.renderings import render_set

_MAX_TILT = 15.0  # degrees
_MIN_CROP = 0.75  # keep at least this share of each side: the garment stays mostly in view
# A third of the re-shoots are seen small, as a far camera or a garment cut from a scene shows
# it: short side 40-160 px (log-uniform) before the letterbox enlarges it again.
_SMALL_SHARE, _SMALL_SIDES = 1 / 3, (40.0, 160.0)
# Where the clothing-dataset sets lie under a photo root: fashion-photos' layout, or ../shared's;
# every other set lies in the folder of its name.
SET_DIRS = {"train": ("train", "real-photos-train"), "eval": ("eval", "real-photos")}


class PhotoFolderError(ValueError):
    """Photos of the list are missing from the photo root or differ from their sha256."""


RENDER = "render"  # the origin and source of a rendered Fashion-MNIST garment
TEST_RENDERS_PER_CLASS = 100  # rendered test garments a photo model is measured on


@dataclass(frozen=True)
class LabelledPicture:
    """A training picture: a real photo's file or a rendering, its class, where it came from
    (its set: ``train``, ``eval``, another source's set; or ``render``), its fold (None: never
    scored) and its photo source (what leave-one-source-out holds out)."""

    class_id: int
    origin: str
    fold: int | None = None
    path: Path | None = None
    pixels: np.ndarray | None = None  # a rendering's BGR pixels
    source: str = RENDER


def set_folder(root: Path, photo_set: str) -> Path:
    """The folder of ``photo_set`` under ``root`` (``root/train`` or ``root/real-photos-train``...)."""
    names = SET_DIRS.get(photo_set, (photo_set,))
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise PhotoFolderError(f"{root}: no {' or '.join(names)} folder; assemble the "
                           f"photos with: fashion-photos --out {root}")


def locate_photos(root: Path, photos: list[Photo]) -> list[LabelledPicture]:
    """The list's photos under ``root``, each checked against its sha256 (a crop: its size);
    PhotoFolderError naming how many are missing or altered (and the first few) when any is."""
    folders = {name: set_folder(root, name) for name in {p.set for p in photos}}
    found, problems = [], []
    for photo in photos:
        path = folders[photo.set] / photo.path
        if not path.is_file():
            problems.append(f"{path} missing")
            continue
        if not in_place(photo, path):
            expected = (f"sha256 {photo.sha256[:12]}..." if photo.crop is None
                        else f"a {photo.crop[2]}x{photo.crop[3]} PNG")
            problems.append(f"{path} differs, expected {expected}")
            continue
        found.append(LabelledPicture(photo.class_id, photo.set, photo.fold, path,
                                     source=photo.source))
    if problems:
        raise PhotoFolderError(f"{root}: {len(problems)} of {len(photos)} listed photos are "
                               f"missing or altered ({'; '.join(problems[:3])}); rebuild them "
                               f"with: fashion-photos --out {root}")
    return found


def renderings(split, per_class: int, seed: int) -> list[LabelledPicture]:
    """``per_class`` garments of each class of a Fashion-MNIST split, rendered as photos."""
    pictures, labels, _ = render_set(split.images, split.labels, per_class, seed)
    return [LabelledPicture(int(y), RENDER, pixels=x) for x, y in zip(pictures, labels)]


def reshoot(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo as another shot might have taken it: mirrored or not, cropped, tilted (edges
    filled by reflection, not black corners), brighter or darker, another white balance, and a
    third of the time from farther away (a smaller picture, never a larger one)."""
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    height, width = pixels.shape[:2]
    least = rng.uniform(_MIN_CROP, 1.0)
    crop_h, crop_w = int(height * rng.uniform(least, 1.0)), int(width * rng.uniform(least, 1.0))
    top, left = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
    pixels = np.ascontiguousarray(pixels[top : top + crop_h, left : left + crop_w])
    tilt = cv2.getRotationMatrix2D((crop_w / 2, crop_h / 2), rng.uniform(-_MAX_TILT, _MAX_TILT), 1)
    pixels = cv2.warpAffine(pixels, tilt, (crop_w, crop_h), borderMode=cv2.BORDER_REFLECT101)
    balance = rng.uniform(0.8, 1.2, 3) if pixels.ndim == 3 else rng.uniform(0.8, 1.2)
    lit = pixels.astype(np.float32) * balance * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    pixels = np.clip(lit, 0, 255).astype(np.uint8)
    small = rng.random() < _SMALL_SHARE
    side = np.exp(rng.uniform(*np.log(_SMALL_SIDES)))
    if small and min(crop_h, crop_w) > side:
        scale = side / min(crop_h, crop_w)
        pixels = cv2.resize(pixels, (round(crop_w * scale), round(crop_h * scale)),
                            interpolation=cv2.INTER_AREA)
    return pixels


def picture_views(picture: LabelledPicture, views: int, layout: ImageLayout,
                  rng: np.random.Generator) -> np.ndarray:
    """``views`` model inputs (views, H, W, 3) of one picture: the first as the device sees it,
    the others re-shot. ImageDecodeError for an unreadable photo."""
    side = photo_decode_side(layout)
    if picture.path is None:
        shot = picture.pixels
        original = shot
    else:
        # As the device decodes it for view 0; at twice that for re-shoots, whose crops enlarge.
        original = photo_pixels(image_io.read_image(picture.path, side))
        shot = photo_pixels(image_io.read_image(picture.path, 2 * side)) if views > 1 else original
    out = [letterbox(original, layout)]
    out += [letterbox(reshoot(shot, rng), layout) for _ in range(views - 1)]
    return np.stack(out)


def calibration_images(pictures: list[LabelledPicture], layout: ImageLayout,
                       rng: np.random.Generator) -> np.ndarray:
    """Inputs to calibrate full-integer quantization on: each picture as the device sees it,
    and a black and a white image, so that the uint8 input keeps scale 1 and zero point 0
    (raw pixels in, as MediaPipe feeds them)."""
    black = np.zeros((1, layout.height, layout.width, 3), np.uint8)
    return np.concatenate([*(picture_views(p, 1, layout, rng) for p in pictures), black,
                           black + 255])


def view_batches(pictures: list[LabelledPicture], views: int, layout: ImageLayout, seed: int,
                 batch: int = 64) -> Iterator[np.ndarray]:
    """The views of every picture, in order, ``batch`` pictures' worth at a time; each picture
    has its own random stream, so a picture's views do not depend on the others."""
    for start in range(0, len(pictures), batch):
        chunk = pictures[start : start + batch]
        yield np.concatenate([
            picture_views(p, views, layout, np.random.default_rng([seed, start + i]))
            for i, p in enumerate(chunk)])
