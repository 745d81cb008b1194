"""Limits a benchmark run is checked against (``fashion-bench --check FILE``): PASS or FAIL
for each limit the file names, from figures of the same run.

A limits file is JSON: ``{"NAME": {"limit": VALUE, "about": "why"}}`` for any of the names in
:data:`LIMITS`; a limit the file leaves out is not checked. The project's own targets for its
development machine are in ``benchmark/project_limits.json``; a device's owner writes their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from benchmark.report import ARCHITECTURES
from benchmark.worker import BATCH

PROJECT_LIMITS = Path(__file__).resolve().parent / "project_limits.json"


class LimitsError(ValueError):
    """A limits file that cannot be read or names a limit that does not exist."""


class Finding(NamedTuple):
    """One limit's verdict on a run, and the figures that gave it."""

    passed: bool
    text: str


def _int8_and_float32(payload: dict) -> Iterator[tuple[str, dict, dict]]:
    """(label, int8 row, float32 row) of each architecture on ai-edge-litert, where both ran."""
    by = _rows(payload)
    for arch in ARCHITECTURES:
        f32, i8 = by.get(f"{arch} float32/ai-edge-litert"), by.get(f"{arch} int8/ai-edge-litert")
        if f32 and i8:
            yield arch.upper(), i8, f32


def _int8_and_keras(payload: dict) -> Iterator[tuple[str, dict, dict]]:
    """(label, int8 row, Keras row) of each architecture where both have cold-start figures."""
    by = _rows(payload)
    for arch in ARCHITECTURES:
        keras, i8 = by.get(f"{arch} keras"), by.get(f"{arch} int8/ai-edge-litert")
        if keras and i8 and "cold" in keras and "cold_start_s" in i8.get("cold", {}):
            yield arch.upper(), i8, keras


def _rows(payload: dict) -> dict[str, dict]:
    return {r["name"]: r for r in payload.get("rows", []) if "error" not in r}


def _int8_size(payload: dict, limit: float) -> Iterator[Finding]:
    for label, i8, f32 in _int8_and_float32(payload):
        ratio = i8["size_kb"] / f32["size_kb"]
        yield Finding(ratio <= limit,
                      f"{label} int8 file is {ratio:.2f} x float32 (limit {limit:.2f})")


def _int8_latency(payload: dict, limit: float) -> Iterator[Finding]:
    for label, i8, f32 in _int8_and_float32(payload):
        a, b = i8["latency_us"]["p50"], f32["latency_us"]["p50"]
        yield Finding(a <= limit * b, f"{label} int8 interpreter p50 {a:.1f} us vs float32 "
                                      f"{b:.1f} us on ai-edge-litert")


def _classify_overhead(payload: dict, limit: float) -> Iterator[Finding]:
    for label, i8, f32 in _int8_and_float32(payload):
        if "classify_us" in i8 and "classify_us" in f32:
            bare = i8["latency_us"]["p50"]
            whole, float_whole = i8["classify_us"]["p50"], f32["classify_us"]["p50"]
            ratio = whole / bare
            yield Finding(ratio <= limit and whole < float_whole,
                          f"{label} int8 through Classifier.classify on a prepared 28x28 input: "
                          f"p50 {whole:.1f} us, {ratio:.2f} x the bare interpreter's {bare:.1f} "
                          f"us (limit {limit:g}x), float32's {float_whole:.1f} us (must be above)")


def _cold_start(payload: dict, limit: float) -> Iterator[Finding]:
    for label, i8, keras in _int8_and_keras(payload):
        speed = keras["cold"]["cold_start_s"]["median"] / i8["cold"]["cold_start_s"]["median"]
        yield Finding(speed >= limit, f"{label} edge cold start {speed:.1f}x faster than Keras "
                                      f"(limit {limit:g}x)")


def _peak_rss(payload: dict, limit: float) -> Iterator[Finding]:
    for label, i8, keras in _int8_and_keras(payload):
        rss = i8["cold"]["peak_rss_mib"]["median"] / keras["cold"]["peak_rss_mib"]["median"]
        yield Finding(rss <= limit, f"{label} edge peak RSS {rss:.3f} x Keras's "
                                    f"(limit {limit:g})")


def _row_figure(name: str, read: Callable[[dict], float | None],
                passes: Callable[[float, float], bool],
                text: Callable[[float, float], str]) -> Callable[[dict, float], Iterator[Finding]]:
    """A limit on one figure of one row (absent row or figure: nothing to check)."""

    def check(payload: dict, limit: float) -> Iterator[Finding]:
        row = _rows(payload).get(name)
        value = read(row) if row else None
        if value is not None:
            yield Finding(passes(value, limit), text(value, limit))

    return check


def _figure(read: Callable[[dict], float | None], passes: Callable[[float, float], bool],
            text: Callable[[float, float, dict], str]) -> Callable[[dict, float], Iterator[Finding]]:
    """A limit on one end-to-end figure of the run (absent: nothing to check)."""

    def check(payload: dict, limit: float) -> Iterator[Finding]:
        try:
            value = read(payload)
        except (KeyError, TypeError):  # the run did not measure it
            return
        yield Finding(passes(value, limit), text(value, limit, payload))

    return check


def _cnn_on_tflite_runtime(payload: dict, required: bool) -> Iterator[Finding]:
    name = "cnn int8/tflite-runtime"
    row = next((r for r in payload.get("rows", []) if r["name"] == name), None)
    if row is None or not required:
        return
    if "error" in row:
        yield Finding(False, f"CNN int8 on tflite-runtime: {row['error']}")
    else:
        yield Finding(True, f"CNN int8 loads and runs on tflite-runtime "
                            f"{row.get('runtime_version')}")


def _at_most(value: float, limit: float) -> bool:
    return value <= limit


def _at_least(value: float, limit: float) -> bool:
    return value >= limit


def _mediapipe_ratio(payload: dict) -> float:
    return payload["photo_model"]["mediapipe"]["ratio"]


# Every limit a file may name, in the order findings are listed.
LIMITS: dict[str, Callable[[dict, float], Iterator[Finding]]] = {
    "int8_vs_float32_size": _int8_size,
    "int8_vs_float32_latency": _int8_latency,
    "classify_vs_interpreter": _classify_overhead,
    "cold_start_vs_keras": _cold_start,
    "peak_rss_vs_keras": _peak_rss,
    "mlp_int8_batch_ips": _row_figure(
        "mlp int8/ai-edge-litert", lambda r: r["batch_ips"]["median"], _at_least,
        lambda v, limit: f"MLP int8 bare interpreter at batch {BATCH}: {v:,.0f} images/s "
                         f"(limit {limit:,.0f})"),
    "cnn_keras_accuracy": _row_figure(
        "cnn keras", lambda r: r["accuracy"], _at_least,
        lambda v, limit: f"CNN Keras test accuracy {v:.2%} (target {limit:.1%}, as a 3-seed "
                         f"mean)"),
    "cnn_int8_drop_pp": _row_figure(
        "cnn int8/ai-edge-litert", lambda r: r.get("vs_keras", {}).get("drop_pp"), _at_most,
        lambda v, limit: f"CNN int8 drop {v:+.2f} pp against Keras (limit {limit:g})"),
    "cnn_int8_size_kb": _row_figure(
        "cnn int8/ai-edge-litert", lambda r: r["size_kb"], _at_most,
        lambda v, limit: f"CNN int8 file {v:.0f} KB (limit {limit:g})"),
    "cnn_int8_p50_us": _row_figure(
        "cnn int8/ai-edge-litert", lambda r: r["latency_us"]["p50"], _at_most,
        lambda v, limit: f"CNN int8 interpreter p50 {v:.0f} us on one thread (limit {limit:g})"),
    "cnn_int8_on_tflite_runtime": _cnn_on_tflite_runtime,
    "cli_first_result_s": _figure(
        lambda p: p["cli"]["first_result_s"]["median"], _at_most,
        lambda v, limit, p: f"fashion-classify start to first result {v:.3f} s (limit {limit:g})"),
    "cli_peak_rss_mib": _figure(
        lambda p: p["cli"]["peak_rss_mib"]["median"], _at_most,
        lambda v, limit, p: f"fashion-classify peak RSS {v:.1f} MiB (limit {limit:g})"),
    "cli_png_per_s": _figure(
        lambda p: p["cli"]["directory_ips"]["median"], _at_least,
        lambda v, limit, p: f"fashion-classify {v:,.0f} PNG/s to JSON Lines (limit {limit:,.0f})"),
    "live_frame_ms": _figure(
        lambda p: p["live"]["per_frame_ms"], _at_most,
        lambda v, limit, p: f"640x480 frame read + prepare + classify + smooth {v:.1f} ms "
                            f"(limit {limit:g})"),
    "photo_cli_peak_rss_mib": _figure(
        lambda p: p["photo_model"]["cli_photo"]["peak_rss_mib"]["median"], _at_most,
        lambda v, limit, p: f"fashion-classify on a {p['photo_model']['cli_photo']['photo']} "
                            f"photo with {p['photo_model']['model']}: peak RSS {v:.0f} MiB "
                            f"(limit {limit:g})"),
    "photo_frame_p95_ms": _figure(
        lambda p: p["photo_model"]["live"]["frame_ms_p95"], _at_most,
        lambda v, limit, p: f"640x480 camera frame end to end with {p['photo_model']['model']} "
                            f"on one thread: p95 {v:.1f} ms (limit {limit:g})"),
    "photo_vs_mediapipe": _figure(
        _mediapipe_ratio, _at_most,
        lambda v, limit, p: f"Classifier.classify on a decoded photo {v:.2f} x MediaPipe's "
                            f"ImageClassifier, the same model and photos (limit {limit:g}x)"),
    "photo_mediapipe_agreement": _figure(
        lambda p: p["photo_model"]["mediapipe"]["top1_agreement_letterboxed"], _at_least,
        lambda v, limit, p: f"MediaPipe's ImageClassifier on photos letterboxed by "
                            f"scripts/mediapipe_classify.py: top-1 as Classifier's on {v:.1%} "
                            f"(limit {limit:.0%})"),
}


def load_limits(path: Path) -> dict[str, float]:
    """The limits a file sets, by name. Raises LimitsError, naming the file, for a file that
    cannot be read, is not a limits file or names a limit that does not exist."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        limits = {name: entry["limit"] for name, entry in entries.items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        raise LimitsError(f"{path}: not a limits file ({exc})") from None
    unknown = sorted(set(limits) - set(LIMITS))
    if unknown:
        raise LimitsError(f"{path}: no such limit: {', '.join(unknown)} (known: "
                          f"{', '.join(LIMITS)})")
    return limits


def check(payload: dict, limits: dict[str, float]) -> list[Finding]:
    """Every finding of ``limits`` on a run's ``results.json`` payload: one per limit and
    architecture it applies to, none for a figure the run did not measure."""
    return [finding for name, verdicts in LIMITS.items() if name in limits
            for finding in verdicts(payload, limits[name])]
