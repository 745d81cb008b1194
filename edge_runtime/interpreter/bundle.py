"""A model bundle: ``NAME.tflite`` and the ``NAME.json`` manifest beside it.

The manifest tells a device what it needs to use the model safely: labels, input spec, sha256.
The conversion stage writes it; this module reads and checks it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.labels import FASHION_MNIST_LABELS

try:  # CPython's built-in SHA-256: hashlib would load OpenSSL, 4 MB of RSS on a Pi, for one sum
    from _sha2 import sha256 as _sha256  # Python >= 3.12
except ImportError:
    try:
        from _sha256 import sha256 as _sha256  # Python 3.10, 3.11
    except ImportError:
        from hashlib import sha256 as _sha256

MANIFEST_SCHEMA_VERSION = 1
DEFAULT_MODEL_NAME = "fashion_mlp_int8"
PHOTO_MODEL_NAME = "fashion_photo_int8"  # EfficientNet-Lite0 photo model; used for photos by default
PIXEL_CONVENTION = "28x28 grayscale, garment bright (up to 255) on a black (0) background"


class ModelIntegrityError(ValueError):
    """The .tflite does not match its manifest (a corrupt copy, or the wrong file)."""


class ManifestError(ValueError):
    """The manifest is unreadable or lacks what a device needs."""


@dataclass(frozen=True)
class ModelBundle:
    """A model file with what its manifest says about it (``manifest`` is None without one)."""

    path: Path
    labels: tuple[str, ...]
    sha256: str
    manifest: dict | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The model's name: its file name without ``.tflite``."""
        return self.path.stem


def manifest_path(model_path: str | Path) -> Path:
    """Where the manifest of ``model_path`` lives: same name, ``.json``."""
    return Path(model_path).with_suffix(".json")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = _sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def models_dir() -> Path:
    """The shipped models: installed as ``edge_runtime.models``, or ``models/`` in a checkout."""
    try:
        import edge_runtime.models as shipped
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "models"
    return Path(shipped.__file__).resolve().parent


def default_model_path(name: str = DEFAULT_MODEL_NAME) -> Path:
    """Path of a shipped model (the int8 one by default)."""
    return models_dir() / f"{name}.tflite"


def read_manifest(path: str | Path) -> dict:
    """Parse a manifest file and check the fields a device relies on."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: manifest is {type(manifest).__name__}, expected an object")
    version = manifest.get("schema_version")
    if version != MANIFEST_SCHEMA_VERSION:
        raise ManifestError(
            f"{path}: schema_version {version!r}, expected {MANIFEST_SCHEMA_VERSION}"
        )
    missing = [key for key in ("labels", "sha256", "input", "output") if key not in manifest]
    if missing:
        raise ManifestError(f"{path}: manifest lacks {', '.join(missing)}")
    return manifest


def load_bundle(model_path: str | Path | None = None, verify: bool = True) -> ModelBundle:
    """Find a model and its manifest; refuse a model whose sha256 differs from the manifest's.

    With no path, the shipped int8 model. A model without a manifest loads with a warning and
    the Fashion-MNIST labels.
    """
    path = Path(model_path) if model_path else default_model_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    digest = sha256_file(path)
    meta_path = manifest_path(path)
    if not meta_path.is_file():
        warnings.warn(
            f"{path}: no manifest ({meta_path.name}); using the Fashion-MNIST labels unchecked",
            stacklevel=2,
        )
        return ModelBundle(path, FASHION_MNIST_LABELS, digest)
    manifest = read_manifest(meta_path)
    if verify and manifest["sha256"] != digest:
        raise ModelIntegrityError(
            f"{path}: sha256 {digest[:16]}... does not match its manifest's "
            f"{manifest['sha256'][:16]}... (corrupt or replaced file); refusing to run it"
        )
    labels = tuple(manifest["labels"])
    return ModelBundle(path, labels, digest, manifest)
