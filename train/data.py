"""Find, read and validate the four Fashion-MNIST IDX files. Needs numpy only.

The data never comes from the network here: it is read from ``--data-dir``, the Debian package
``dataset-fashion-mnist`` or the Keras cache, in that order.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.labels import FASHION_MNIST_LABELS

CLASS_NAMES = FASHION_MNIST_LABELS
IMAGE_SHAPE = (28, 28)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path("~/.keras/datasets/fashion-mnist")
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
INSTALL_HINT = (
    "install it with 'sudo apt-get install dataset-fashion-mnist' (Debian/Ubuntu), "
    "or pass --data-dir DIR holding the four IDX files "
    "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)"
)


class DataError(ValueError):
    """An IDX file exists but is unreadable, truncated or not what Fashion-MNIST must be."""


class DataNotFoundError(FileNotFoundError):
    """None of the searched directories holds the Fashion-MNIST IDX files."""


@dataclass(frozen=True)
class Split:
    """One split: ``images`` (N, 28, 28) uint8, garment bright on black; ``labels`` (N,) uint8."""

    images: np.ndarray
    labels: np.ndarray
    sha256: dict[str, str]


@dataclass(frozen=True)
class FashionMNIST:
    """The train and test splits and the directory they were read from."""

    train: Split
    test: Split
    directory: Path

    @property
    def sha256(self) -> dict[str, str]:
        """sha256 of each decompressed IDX file, by file name."""
        return {**self.train.sha256, **self.test.sha256}


def candidate_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The directories searched for the IDX files, in order."""
    dirs = [Path(data_dir).expanduser()] if data_dir else []
    return dirs + [DEBIAN_DIR, KERAS_CACHE_DIR.expanduser()]


def _has_split_files(directory: Path) -> bool:
    names = [n for pair in SPLIT_FILES.values() for n in pair]
    return all(_existing(directory / n) is not None for n in names)


def _existing(gz_path: Path) -> Path | None:
    """The file itself, or its uncompressed twin (``.gz`` dropped), whichever exists."""
    for path in (gz_path, gz_path.with_suffix("")):
        if path.is_file():
            return path
    return None


def find_data_dir(data_dir: str | Path | None = None) -> Path:
    """Return the first directory that holds all four IDX files.

    Raises DataNotFoundError naming every directory searched and how to install the data.
    An explicit ``data_dir`` that lacks the files is reported even when a fallback exists,
    because silently training on other data than the user asked for is worse than stopping.
    """
    if data_dir and not _has_split_files(Path(data_dir).expanduser()):
        raise DataNotFoundError(
            f"Fashion-MNIST IDX files not found in --data-dir {data_dir}; {INSTALL_HINT}"
        )
    searched = candidate_dirs(data_dir)
    for directory in searched:
        if _has_split_files(directory):
            return directory
    raise DataNotFoundError(
        "Fashion-MNIST not found (looked in "
        + ", ".join(str(d) for d in searched)
        + f"); {INSTALL_HINT}"
    )


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def read_idx(path: str | Path, magic: int) -> tuple[np.ndarray, str]:
    """Read one IDX file of unsigned bytes; return the array and the sha256 of its raw bytes.

    Checks the magic number and that the payload length matches the header exactly.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DataError(f"{path}: IDX magic number 0x{found:08x}, expected 0x{magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: header truncated ({len(raw)} bytes, expected {header})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(
            f"{path}: {len(raw)} bytes, expected {expected} for dimensions {dims} "
            "(truncated or corrupt)"
        )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    return array, hashlib.sha256(raw).hexdigest()


def load_split(directory: str | Path, split: str) -> Split:
    """Read and validate the ``train`` or ``test`` split from ``directory``."""
    directory = Path(directory)
    image_name, label_name = SPLIT_FILES[split]
    image_path = _existing(directory / image_name) or directory / image_name
    label_path = _existing(directory / label_name) or directory / label_name
    images, image_sha = read_idx(image_path, _IMAGES_MAGIC)
    labels, label_sha = read_idx(label_path, _LABELS_MAGIC)
    if images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{image_path}: images are {images.shape[1:]}, expected {IMAGE_SHAPE}")
    if len(images) != len(labels):
        raise DataError(
            f"{image_path}: {len(images)} images but {label_path.name} has {len(labels)} labels"
        )
    if len(images) != SPLIT_SIZES[split]:
        raise DataError(
            f"{image_path}: {len(images)} images, expected {SPLIT_SIZES[split]} for {split}"
        )
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{label_path}: label {labels.max()} found, expected 0..9")
    return Split(images, labels, {image_path.name: image_sha, label_path.name: label_sha})


def load_fashion_mnist(data_dir: str | Path | None = None) -> FashionMNIST:
    """Find and load both splits (see :func:`find_data_dir` for the search order)."""
    directory = find_data_dir(data_dir)
    return FashionMNIST(load_split(directory, "train"), load_split(directory, "test"), directory)
