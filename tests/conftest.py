"""Shared fixtures: the real Fashion-MNIST test set, the shipped models, and skips for what is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL_PHOTOS = ROOT.parent / "shared" / "real-photos"
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None


def pytest_collection_modifyitems(config, items):
    """Skip TensorFlow tests cleanly in the edge-only environments, photo tests without photos."""
    skip_tf = pytest.mark.skip(reason="TensorFlow not installed (edge-only environment)")
    skip_photos = pytest.mark.skip(reason=f"{REAL_PHOTOS} not present")
    for item in items:
        if "tensorflow" in item.keywords and not HAS_TENSORFLOW:
            item.add_marker(skip_tf)
        if "photos" in item.keywords and not REAL_PHOTOS.is_dir():
            item.add_marker(skip_photos)


@pytest.fixture(scope="session")
def fashion():
    """The real Fashion-MNIST, both splits, read once per session; the tests that need it are
    skipped, with the reason, where it is not installed (a device without the apt package)."""
    from train.data import DataNotFoundError, load_fashion_mnist

    try:
        return load_fashion_mnist()
    except DataNotFoundError as exc:
        pytest.skip(f"Fashion-MNIST not available: {exc}")
