"""Labelled photo collections: one subfolder per class, every photo in one of three folds.

The folder layout is that of ``../shared/real-photos``: subfolder names are class names with
``/`` and spaces written as ``_`` (``T-shirt_top``, ``Ankle_boot``). A photo's fold comes from a
hash of its path within the folder, so it never changes between runs or machines; training uses
the dev folds and evaluation reports the held-out one apart (or every fold with its own model).
Photos of one product (colour variants, several shots) share a file-name prefix ending in
``__`` (``0706016__0706016001.jpg``): the fold is drawn from that prefix, so a product never has
photos on both sides of a split.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.media.formats import IMAGE_SUFFIXES

FOLDS = 3
GROUP_SEPARATOR = "__"  # a file name's product prefix ends here
HOLDOUT_FOLD = 0  # the held-out part unless --holdout-fold says otherwise
MIN_PER_CLASS = 25  # classes with fewer photos are reported but not scored


@dataclass(frozen=True)
class LabelledPhoto:
    """One photo, its true class id, and its fold (0 to FOLDS - 1)."""

    path: Path
    class_id: int
    fold: int


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def photo_fold(relative: str) -> int:
    """Stable assignment of a photo to a fold, from its path within the folder (or from its
    file name's product prefix, when it has one)."""
    name = relative.rsplit("/", 1)[-1]
    key = name.split(GROUP_SEPARATOR, 1)[0] if GROUP_SEPARATOR in name else relative
    return hashlib.sha256(key.encode()).digest()[0] * FOLDS // 256


def find_photos(folder: Path, labels: tuple[str, ...]) -> list[LabelledPhoto]:
    """All image files under per-class subfolders whose names match ``labels``."""
    by_key = {_key(label): i for i, label in enumerate(labels)}
    photos = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        class_id = by_key.get(_key(sub.name))
        if class_id is None:
            print(f"warning: {sub}: not a class name, skipped", file=sys.stderr)
            continue
        for path in sorted(sub.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                rel = path.relative_to(folder).as_posix()
                photos.append(LabelledPhoto(path, class_id, photo_fold(rel)))
    return photos
