"""Packaging: the project builds with the setuptools of Debian Bookworm (66) and of this
environment, its extras install what each device needs, and the tests skip cleanly where the
Fashion-MNIST package is missing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pyproject() -> dict:
    """pyproject.toml as the setuptools installed here reads and validates it."""
    import warnings

    read_configuration = pytest.importorskip("setuptools.config.pyprojecttoml").read_configuration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "[tool.setuptools] is beta" on setuptools < 68
        return read_configuration(ROOT / "pyproject.toml")


def test_the_setuptools_installed_here_builds_it_and_meets_the_floor(pyproject):
    import setuptools

    (floor,) = [int(m.group(1)) for r in pyproject["build-system"]["requires"]
                if (m := re.fullmatch(r"setuptools>=(\d+)", r.replace(" ", "")))]
    installed = int(setuptools.__version__.split(".")[0])
    assert floor <= 66, f"Debian Bookworm's setuptools 66.1 must meet the floor ({floor})"
    assert installed >= floor, (setuptools.__version__, floor)
    assert pyproject["project"]["name"] == "fashion-edge"


def test_license_is_mit_and_shipped(pyproject):
    assert pyproject["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the fashion-edge authors" in text
    assert "WITHOUT WARRANTY OF ANY KIND" in text


def _requirements(extra: list[str], python: str) -> dict[str, str]:
    """An extra's requirements that apply on ``python``: name -> version specifier."""
    from packaging.requirements import Requirement  # pytest's own dependency

    reqs = [Requirement(r) for r in extra]
    return {r.name: str(r.specifier) for r in reqs
            if r.marker is None or r.marker.evaluate({"python_version": python})}


def test_extras_pin_what_each_device_needs(pyproject):
    extras = pyproject["project"]["optional-dependencies"]
    # tflite-runtime has no wheel past Python 3.11: there the extra installs nothing.
    assert _requirements(extras["legacy"], "3.13") == {}
    assert "tflite-runtime" in _requirements(extras["legacy"], "3.11")
    # Bookworm (3.11): apt's picamera2 is built for numpy 1.24, so the venv keeps numpy < 2.
    bookworm = _requirements(extras["picamera"], "3.11")
    assert bookworm["numpy"] == "<2,>=1.24" and bookworm["opencv-python-headless"] == "<4.11,>=4.10"
    # Trixie (3.13): apt's numpy 2.2 stays; nothing pins numpy, nor an OpenCV built for numpy 1.
    trixie = _requirements(extras["picamera"], "3.13")
    assert "numpy" not in trixie and trixie["opencv-python-headless"] == ">=4.11"
    for reqs in (bookworm, trixie):
        assert "ai-edge-litert" in reqs and "tensorflow" not in reqs and "tensorflow-cpu" not in reqs


def test_tests_needing_fashion_mnist_skip_cleanly_without_it(tmp_path):
    (tmp_path / "hide_fashion_mnist.py").write_text(
        "from pathlib import Path\n"
        "import train.data\n"
        f"train.data.DEBIAN_DIR = train.data.KERAS_CACHE_DIR = Path({str(tmp_path)!r})\n")
    test = "tests/test_data.py::test_real_files_have_the_documented_shape_and_balance"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p",
         "hide_fashion_mnist", test], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "error" not in done.stdout.lower()
    assert "Fashion-MNIST not available" in done.stdout and "dataset-fashion-mnist" in done.stdout
