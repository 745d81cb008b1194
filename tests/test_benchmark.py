"""The benchmark's measurements on a real model, and its findings logic."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from edge_runtime.interpreter.backend import resolve_backend
from convert.benchmark import build_table, checks, cold_start, run_worker

ROOT = Path(__file__).resolve().parent.parent
INT8 = ROOT / "models" / "fashion_mlp_int8.tflite"


@pytest.mark.slow
def test_worker_row_reproduces_the_manifest_and_times_the_model(fashion, tmp_path):
    backend = resolve_backend()
    row = run_worker(sys.executable, INT8, backend, None)
    manifest = json.loads(INT8.with_suffix(".json").read_text())
    predicted = row.pop("predicted")
    accuracy = sum(p == y for p, y in zip(predicted, fashion.test.labels)) / len(predicted)
    # Exact on ai-edge-litert, which measured the manifest; tflite-runtime's int8 kernels round
    # a few of the 10,000 images differently.
    assert accuracy == pytest.approx(manifest["metrics"]["tflite_accuracy"], abs=5e-4)
    assert 0 < row["latency_us"]["p50"] <= row["latency_us"]["p99"]
    assert row["throughput_ips"]["min"] <= row["throughput_ips"]["median"] <= \
        row["throughput_ips"]["max"]
    image = tmp_path / "x.png"
    image.write_bytes((ROOT / "models" / "__init__.py").read_bytes())  # not an image
    assert "error" in cold_start(sys.executable, INT8, backend, image)


def test_a_runtime_that_cannot_load_a_model_is_a_row_not_a_crash(tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    row = run_worker(sys.executable, broken, resolve_backend(), None)
    assert "error" in row
    table = build_table([{"name": "broken/x", **row}])
    assert "cannot run" in table


def test_findings_compare_rows_of_the_same_run():
    def row(name, size, p50, cold, rss):
        return {"name": name, "size_kb": size, "latency_us": {"p50": p50},
                "cold": {"cold_start_s": {"median": cold}, "peak_rss_mib": {"median": rss}}}

    rows = [row("keras", 1300, 60000, 5.0, 540), row("float32/ai-edge-litert", 430, 10, 0.2, 40),
            row("int8/ai-edge-litert", 116, 9, 0.2, 40)]
    found = checks(rows, None)
    assert len(found) == 4 and all(ok for ok, _ in found), found
    rows[2]["size_kb"] = 200
    assert not checks(rows, None)[0][0]
