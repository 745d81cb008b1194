"""Camera frames through the live loop: a test video of garments, and the per-frame figures of
``fashion-classify --video`` on it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

FRAME_SIZE = (640, 480)
STILL_FRAMES = 10  # frames each garment stays in view


def write_test_video(video: Path, photos: Path | None, n_frames: int = 300) -> Path:
    """A 640x480 video of garments (the labelled photos, else noise), 10 frames per still."""
    from edge_runtime.media.image_io import read_image
    from edge_runtime.media.imaging import resize
    from edge_runtime.media.video import open_writer

    width, height = FRAME_SIZE
    sources = sorted(photos.rglob("*.jpg"))[:30] if photos else []
    rng = np.random.default_rng(0)
    stills = [resize(read_image(p).pixels, width, height) for p in sources] or [
        rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(30)]
    writer = open_writer(str(video), width, height, 15.0)
    if writer is None:
        raise RuntimeError(f"{video}: OpenCV cannot write this video here")
    for i in range(n_frames):
        writer.write(stills[(i // STILL_FRAMES) % len(stills)])
    writer.release()
    return video


def live_figures(video: Path, photo_model: Path | None = None) -> dict:
    """Per 640x480 frame of ``video``: read (decode), ROI, photo preparation, classification,
    smoothing, through the same loop as ``fashion-classify --video``, in this process, one
    thread, with the shipped models (or ``photo_model`` for the frames). End to end per frame
    is the time between two frames' records; prepare + classify is the loop's own latency."""
    from edge_runtime.apps.live import LiveOptions, run_live
    from edge_runtime.classifier import Classifier
    from edge_runtime.media.sources import OpenCVSource

    latencies, stamps = [], []

    def record(r: dict) -> None:
        stamps.append(time.perf_counter())
        latencies.append(r["latency_ms"])

    source = OpenCVSource(str(video))
    source.open()
    with Classifier(photo_model=photo_model, num_threads=1) as clf:
        start = time.perf_counter()
        frames = run_live(source, clf, record, LiveOptions(), lambda: False)
        wall = time.perf_counter() - start
        model = clf.photo_bundle.name
    source.close()
    per_frame = np.diff(stamps) * 1000
    return {"photo_model": model, "frames": frames, "per_frame_ms": wall * 1000 / frames,
            "frame_ms_p50": float(np.median(per_frame)),
            "frame_ms_p95": float(np.percentile(per_frame, 95)),
            "prepare_classify_ms_p50": float(np.median(latencies)),
            "prepare_classify_ms_p95": float(np.percentile(latencies, 95))}
