"""The layering the architecture promises: stages import one way, device modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_DEVICE_MODULE_LINES = 400


def _imported_packages(path: Path) -> set[str]:
    """Top-level package names that a module imports, lazily or not."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_training_never_imports_conversion_or_the_benchmark():
    offenders = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "train").rglob("*.py"))
                 if _imported_packages(path) & {"convert", "benchmark"}]
    assert offenders == []


def test_no_device_module_is_over_the_size_limit():
    long = {str(path.relative_to(ROOT)): n for path in sorted((ROOT / "edge_runtime").rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_DEVICE_MODULE_LINES}
    assert long == {}
