"""Files the tools produce are whole or absent: a write interrupted halfway leaves no half file.
And the device runtime, which now owns the atomic-write helpers, still imports nothing of the
desktop stages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.apps.batch import save_prepared
from edge_runtime.photo.preprocess import PreparedInput
from tests.test_photos import write_photo_folder

ROOT = Path(__file__).resolve().parent.parent


def _interrupted_halfway(self: Path, data, *args, **kwargs):
    """Path.write_bytes / write_text that writes half the data, then is interrupted."""
    with open(self, "wb" if isinstance(data, bytes) else "w") as handle:
        handle.write(data[: len(data) // 2])
    raise KeyboardInterrupt


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def test_save_inputs_leaves_no_half_png(tmp_path, monkeypatch):
    prepared = PreparedInput(np.full((28, 28), 90, np.uint8), "photo",
                             np.ones((64, 64), bool))
    monkeypatch.setattr(Path, "write_bytes", _interrupted_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_prepared(tmp_path / "saved", 7, Path("shirt.jpg"), prepared)
    assert _files(tmp_path / "saved") == []


def test_evaluate_out_leaves_no_half_report(fashion, tmp_path, monkeypatch):
    from edge_runtime.apps.evaluate import main as evaluate

    photos = tmp_path / "photos"
    photos.mkdir()
    write_photo_folder(photos, fashion, [("Trouser", 1), ("Sneaker", 7)], 3, 0)
    out = tmp_path / "report"
    monkeypatch.setattr(Path, "write_text", _interrupted_halfway)
    with pytest.raises(KeyboardInterrupt):
        evaluate([str(photos), "--out", str(out), "--min-per-class", "1"])
    assert _files(out) == []


def test_benchmark_plots_leave_no_half_png(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from benchmark.report import plot

    def savefig_interrupted(self, path, **kwargs):
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n half a plot")
        raise KeyboardInterrupt

    rows = [{"name": "int8/ai-edge-litert", "variant": "int8", "backend": "ai-edge-litert",
             "latency_us": {"p50": 6.0}, "size_kb": 116.0, "accuracy": 0.9017}]
    monkeypatch.setattr(Figure, "savefig", savefig_interrupted)
    with pytest.raises(KeyboardInterrupt):
        plot(rows, tmp_path)
    assert _files(tmp_path) == []


def test_the_device_runtime_imports_no_desktop_stage():
    code = ("import pkgutil, importlib, sys, edge_runtime\n"
            "for m in pkgutil.walk_packages(edge_runtime.__path__, 'edge_runtime.'):\n"
            "    if not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            "print(sorted({n.split('.')[0] for n in sys.modules} & {'train', 'convert', "
            "'benchmark', 'tensorflow', 'keras'}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ | {"PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
