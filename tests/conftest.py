"""Shared fixtures: the real Fashion-MNIST test set, the shipped models, and skips for what is absent."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL_PHOTOS = ROOT.parent / "shared" / "real-photos"
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
LEGACY_PYTHON = ROOT / ".venv-legacy" / "bin" / "python"

# Runs in .venv-legacy: tflite-runtime 2.14's probabilities for the images in an .npy file.
_LEGACY_PROBABILITIES = """
import sys
import numpy as np
from edge_runtime.interpreter.runner import ModelRunner
model, inputs, outputs, batch_size = sys.argv[1:]
runner = ModelRunner(model, "tflite-runtime")
np.save(outputs, runner.probabilities_batch(np.load(inputs), batch_size=int(batch_size)))
"""


def legacy_probabilities(model: Path, images: np.ndarray, work: Path,
                         batch_size: int = 256) -> np.ndarray:
    """``model``'s probabilities for ``images`` on tflite-runtime 2.14, run in .venv-legacy
    (skips the test where that environment is absent)."""
    if not LEGACY_PYTHON.is_file():
        pytest.skip(".venv-legacy absent: tflite-runtime 2.14 not checked")
    np.save(work / "legacy-inputs.npy", images)
    done = subprocess.run([str(LEGACY_PYTHON), "-c", _LEGACY_PROBABILITIES, str(model),
                           str(work / "legacy-inputs.npy"), str(work / "legacy-outputs.npy"),
                           str(batch_size)], cwd=ROOT, timeout=300, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(work / "legacy-outputs.npy")


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
