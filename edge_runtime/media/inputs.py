"""Expand command-line PATHs (files, directories, glob patterns) into the files to classify."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InputItem:
    """One input to classify; or a PATH that yields nothing (``error`` says why); or a file
    found that is not one to read (``skipped`` says why: a pipe, socket or device)."""

    path: Path
    error: str | None = None
    skipped: str | None = None


def _found(path: Path) -> InputItem:
    """A file a directory or a pattern yielded: pipes, sockets and devices are skipped, never
    opened (reading a pipe could wait for ever); a dangling link is read, and fails."""
    if path.is_file() or not path.exists():
        return InputItem(path)
    return InputItem(path, skipped="not a regular file")


def _files_under(directory: Path) -> list[InputItem]:
    """Every file under ``directory``, whatever its name: what it holds decides later whether
    it is an image (:mod:`edge_runtime.media.formats`)."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found += [_found(Path(root) / name) for name in sorted(files)]
    return found


def expand_inputs(paths: list[str]) -> list[InputItem]:
    """Files as given, directories searched recursively (every file: the content decides what
    is an image, not the name), glob patterns expanded; each PATH that yields no file becomes
    one item with an error, so it is reported and the batch goes on."""
    items: list[InputItem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            items += _files_under(path) or [InputItem(path, f"{path}: directory holds no files")]
        elif path.exists() or os.path.lexists(path):
            items.append(InputItem(path))
        elif glob.has_magic(raw):
            matches = sorted(glob.glob(raw, recursive=True))
            files = [Path(m) for m in matches if not Path(m).is_dir()]
            items += [_found(p) for p in files] or [InputItem(path, f"{raw}: no file matches")]
        else:
            items.append(InputItem(path, f"{path}: no such file or directory"))
    return items
