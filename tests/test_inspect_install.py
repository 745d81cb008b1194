"""scripts/inspect_install.py, the arm64 check's look at the camera venv: where numpy and
picamera2 come from, and which modules do not import."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "inspect_install.py"
_spec = importlib.util.spec_from_file_location("inspect_install", SCRIPT)
inspect_install = importlib.util.module_from_spec(_spec)
sys.modules["inspect_install"] = inspect_install  # its dataclass looks its module up there
_spec.loader.exec_module(inspect_install)


def test_origin_tells_the_venv_from_the_system_and_an_editable_checkout():
    origin = inspect_install.origin_of
    venv, system = "/root/venv-picamera", "/usr"
    assert origin(f"{venv}/lib/python3.13/site-packages/numpy/__init__.py", venv, system) == "venv"
    assert origin("/usr/lib/python3/dist-packages/numpy/__init__.py", venv, system) == "system"
    assert origin("/root/fashion-edge/edge_runtime/__init__.py", venv, system) == "source tree"
    # A sibling whose name starts like the venv's is not inside it.
    assert origin(f"{venv}2/lib/numpy/__init__.py", venv, system) == "source tree"
    # Outside any venv everything under the interpreter's prefix is the system's.
    assert origin("/usr/lib/python3/dist-packages/numpy/__init__.py", system, system) == "system"


def test_verdict_fails_a_venv_numpy_and_a_module_that_does_not_import():
    Module = inspect_install.Module
    shadowing = Module("numpy", "2.3.1", "venv", "/root/venv/lib/numpy/__init__.py")
    assert inspect_install.verdict(shadowing, system_only=True).startswith("MISMATCH numpy 2.3.1")
    assert not inspect_install.verdict(shadowing, system_only=False).startswith("MISMATCH")
    apt = Module("numpy", "2.2.4", "system", "/usr/lib/python3/dist-packages/numpy/__init__.py")
    assert inspect_install.verdict(apt, system_only=True) == (
        "numpy 2.2.4 from the system (/usr/lib/python3/dist-packages/numpy/__init__.py)")
    missing = inspect_install.inspect_module("no_such_module_here")
    assert missing.error.startswith("ModuleNotFoundError")
    assert inspect_install.verdict(missing, system_only=False).startswith(
        "MISMATCH no_such_module_here does not import")


def test_versions_come_from_the_distribution_behind_the_import_name():
    numpy = inspect_install.inspect_module("numpy")
    assert numpy.error is None and numpy.version == importlib.metadata.version("numpy")
    assert numpy.origin in ("venv", "system")


def test_cli_exits_1_on_a_mismatch_and_0_when_all_is_well():
    def run(*args):
        return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                              text=True, timeout=60)

    good = run("--import", "json")
    assert good.returncode == 0 and "install: json " in good.stdout
    bad = run("--import", "json", "no_such_module_here")
    assert bad.returncode == 1
    assert "install: MISMATCH no_such_module_here does not import" in bad.stdout
    assert run().returncode == 2  # nothing named: a usage error
