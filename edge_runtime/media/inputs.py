"""Expand command-line PATHs (files, directories, glob patterns) into the files to classify."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm", ".pnm"}
)


@dataclass(frozen=True)
class InputItem:
    """One input to classify, or a PATH that yields nothing (``error`` says why)."""

    path: Path
    error: str | None = None


def _images_under(directory: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found += [Path(root) / f for f in sorted(files) if Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return found


def expand_inputs(paths: list[str]) -> list[InputItem]:
    """Files as given (whatever their suffix: the decoder judges), directories searched
    recursively for image files, glob patterns expanded; each PATH that yields no file becomes
    one item with an error, so it is reported and the batch goes on."""
    items: list[InputItem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = _images_under(path)
            items += [InputItem(p) for p in found] or [
                InputItem(path, f"{path}: directory holds no image files")]
        elif path.exists() or os.path.lexists(path):
            items.append(InputItem(path))
        elif glob.has_magic(raw):
            matches = sorted(glob.glob(raw, recursive=True))
            files = [Path(m) for m in matches if not Path(m).is_dir()]
            items += [InputItem(p) for p in files] or [InputItem(path, f"{raw}: no file matches")]
        else:
            items.append(InputItem(path, f"{path}: no such file or directory"))
    return items
