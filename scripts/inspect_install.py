"""Check a device venv as the arm64 check (scripts/check_arm64.sh) needs it: which modules
import, their versions, and whether each comes from the venv or from the system's packages.

    /root/venv-picamera/bin/python scripts/inspect_install.py --system numpy \
        --import edge_runtime ai_edge_litert cv2 picamera2

On Raspberry Pi OS, picamera2 and simplejpeg come from apt, built against apt's numpy; a numpy
installed into a --system-site-packages venv would shadow that one and break them, so
``--system numpy`` requires numpy to be the system's. Prints one line per module; a line that
starts with MISMATCH is a failure, and the exit status is then 1. Needs only the standard
library (it runs in the venv it inspects).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
from dataclasses import dataclass

# Import names whose distribution is named otherwise.
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "edge_runtime": "fashion-edge",
                 "PIL": "pillow"}


@dataclass(frozen=True)
class Module:
    """One module as this Python imports it; ``error`` is set when the import failed."""

    name: str
    version: str | None = None
    origin: str | None = None  # "venv", "system" or "source tree"
    path: str | None = None
    error: str | None = None


def origin_of(path: str, prefix: str, base_prefix: str) -> str:
    """``venv`` when ``path`` lies inside the running venv (``prefix``), ``system`` when inside
    the Python it was made from (``base_prefix``: /usr on Debian, whose apt modules are in
    /usr/lib/python3/dist-packages), else ``source tree`` (an editable install)."""
    def inside(folder: str) -> bool:
        folder = os.path.realpath(folder)
        return os.path.commonpath([os.path.realpath(path), folder]) == folder

    if prefix != base_prefix and inside(prefix):
        return "venv"
    return "system" if inside(base_prefix) else "source tree"


def version_of(name: str, module: object) -> str | None:
    """The installed distribution's version, or the module's ``__version__``."""
    try:
        return importlib.metadata.version(DISTRIBUTIONS.get(name, name))
    except importlib.metadata.PackageNotFoundError:
        return getattr(module, "__version__", None)


def inspect_module(name: str) -> Module:
    """Import ``name`` and say where it came from."""
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # an extension built against another numpy raises anything
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return Module(name, error=f"{type(exc).__name__}: {detail}")
    path = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), "")
    return Module(name, version_of(name, module), origin_of(path, sys.prefix, sys.base_prefix), path)


def verdict(module: Module, system_only: bool) -> str:
    """The module's line: what imported from where, or MISMATCH and why."""
    if module.error:
        return f"MISMATCH {module.name} does not import: {module.error}"
    line = f"{module.name} {module.version} from the {module.origin} ({module.path})"
    if system_only and module.origin != "system":
        return f"MISMATCH {line}: expected the system's, as apt's packages were built against it"
    return line


def main(argv: list[str] | None = None) -> int:
    """Print where each named module imports from; 1 when one is not where it must be."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--import", dest="imports", nargs="*", default=[], metavar="MODULE",
                        help="modules that must import")
    parser.add_argument("--system", nargs="*", default=[], metavar="MODULE",
                        help="modules that must import from the system's packages, not the venv")
    args = parser.parse_args(argv)
    names = list(dict.fromkeys([*args.system, *args.imports]))
    if not names:
        parser.error("name at least one module (--import or --system)")
    lines = [verdict(inspect_module(name), name in args.system) for name in names]
    print(f"install: Python {sys.version.split()[0]}, venv {sys.prefix}")
    print("\n".join(f"install: {line}" for line in lines))
    return 1 if any(line.startswith("MISMATCH") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
