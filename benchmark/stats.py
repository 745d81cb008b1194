"""How every benchmark figure is summarised: repeated runs reduced to their median and range."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

REPEATS = 5  # runs of every measurement; figures are their medians


def spread(values: Sequence[float]) -> dict:
    """Median, min and max of repeated measurements."""
    return {"median": float(statistics.median(values)), "min": float(min(values)),
            "max": float(max(values))}


def percentiles(run: Callable, inputs: Sequence, warmup: int, repeats: int = REPEATS) -> dict:
    """p50 and p99 in microseconds of ``run(x)`` over ``inputs``, medians of ``repeats`` runs
    after ``warmup`` calls."""
    for x in inputs[:warmup]:
        run(x)
    p50s, p99s = [], []
    for _ in range(repeats):
        latencies = []
        for x in inputs:
            start = time.perf_counter_ns()
            run(x)
            latencies.append((time.perf_counter_ns() - start) / 1000)
        p50s.append(float(np.percentile(latencies, 50)))
        p99s.append(float(np.percentile(latencies, 99)))
    return {"p50": statistics.median(p50s), "p99": statistics.median(p99s),
            "p50_runs": p50s, "p99_runs": p99s, "invokes_per_run": len(inputs)}


def rate(run: Callable[[], object], n: int, repeats: int = REPEATS) -> dict:
    """Items per second of ``run()`` over ``n`` items, ``repeats`` times."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(n / (time.perf_counter() - start))
    return spread(rates)


def median_of(figures: dict, *keys: str) -> float:
    """A nested figure, e.g. ``median_of(row, "cold", "peak_rss_mib")`` (its median where it is
    a spread); NaN where the figures lack it."""
    value = figures
    for key in keys:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    if isinstance(value, dict):
        value = value.get("median", float("nan")) if value else float("nan")
    return float(value)


@dataclass(frozen=True)
class Effort:
    """How long every measurement runs: :data:`FULL` for figures to report, :data:`QUICK` for
    a first look (the same figures, noisier).

    Attributes:
        repeats: runs of every measurement.
        latency_invokes: single-image invokes per latency run.
        warmup_invokes: invokes before the latency runs.
        throughput_images: images per throughput run (a multiple of the batch).
        pngs: 28x28 PNGs in the folder ``fashion-classify`` reads.
        frames: 640x480 frames in the test video.
    """

    repeats: int = REPEATS
    latency_invokes: int = 2000
    warmup_invokes: int = 200
    throughput_images: int = 2048
    pngs: int = 10_000
    frames: int = 300


FULL = Effort()
QUICK = Effort(repeats=1, latency_invokes=200, warmup_invokes=20, throughput_images=512,
               pngs=500, frames=60)
