"""The live loop: frames from a source, region of interest, photo preparation, classification,
temporal smoothing, one record per frame (or per change of label)."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.classifier import Classifier
from edge_runtime.media.sources import FrameSource
from edge_runtime.photo.segment import empty_scene
from edge_runtime.predictions import Prediction

EMIT_MODES = ("every", "change")
ROI_FRACTION = 0.9  # the default ROI: a centred square of 90% of the frame's short side


@dataclass
class LiveOptions:
    """How to run the loop (see ``fashion-classify --help``)."""

    roi: tuple[int, int, int, int] | None = None
    smooth: int = 5
    emit: str = "every"
    background_frames: int = 0
    show: bool = False
    record: Path | None = None
    max_frames: int | None = None
    prog: str = "fashion-classify"  # the command named in messages and the window title


def parse_roi(text: str) -> tuple[int, int, int, int]:
    """``x,y,w,h`` in pixels, w and h > 0; ValueError otherwise."""
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise ValueError(f"--roi {text!r}: expected x,y,w,h in pixels, e.g. 80,0,480,480")
    x, y, w, h = (int(p) for p in parts)
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise ValueError(f"--roi {text!r}: x and y must be >= 0, w and h > 0")
    return x, y, w, h


def centred_square(height: int, width: int) -> tuple[int, int, int, int]:
    """The default ROI for a frame of this size."""
    side = int(min(height, width) * ROI_FRACTION)
    return (width - side) // 2, (height - side) // 2, side, side


def clip_roi(roi: tuple[int, int, int, int], height: int, width: int) -> tuple[int, int, int, int]:
    """The part of ``roi`` inside the frame; ValueError when nothing is left."""
    x, y, w, h = roi
    x2, y2 = min(x + w, width), min(y + h, height)
    if x >= width or y >= height or x2 <= x or y2 <= y:
        raise ValueError(f"--roi {x},{y},{w},{h} lies outside the {width}x{height} frame")
    return x, y, x2 - x, y2 - y


class Smoother:
    """Mean class probabilities over the last N frames. A frame without a garment counts as
    all-zero, so a garment that leaves the view fades; when such frames are the majority of the
    window, there is no garment in view (None)."""

    def __init__(self, size: int, n_classes: int) -> None:
        self.window: deque[np.ndarray | None] = deque(maxlen=max(1, size))
        self.n_classes = n_classes

    def update(self, probabilities: np.ndarray | None) -> np.ndarray | None:
        """Add one frame's probabilities (None: no garment); return the smoothed ones, or None
        when most frames of the window had no garment."""
        self.window.append(probabilities)
        empty = sum(p is None for p in self.window)
        if 2 * empty > len(self.window):
            return None
        present = [p for p in self.window if p is not None]
        return np.sum(present, axis=0) / len(self.window)


def run_live(source: FrameSource, classifier: Classifier, write: Callable[[dict], None],
             options: LiveOptions, stopped: Callable[[], bool],
             on_frame: Callable[[np.ndarray, dict, Prediction], None] | None = None) -> int:
    """Run until the source ends, ``stopped()`` is true or ``max_frames`` is reached.

    ``on_frame(annotated, record, prediction)``, when given, is called for every classified
    frame (whatever ``emit`` says) with the annotated BGR frame, the frame's record and its
    prediction (for the top-k), after ``write``: the web server's hand-over.
    Returns the number of frames classified (frames that built the empty scene are not).
    Raises FrameSourceError when the source fails for good; every record emitted before that
    has already been written.
    """
    from edge_runtime.media import imaging, video

    smoother = Smoother(options.smooth, len(classifier.photo_bundle.labels))
    scene: np.ndarray | None = None
    scene_shape: tuple[int, ...] | None = None  # the ROI's shape in the frames of the scene
    scene_frames: list[np.ndarray] = []
    recorder, recorder_size = None, (0, 0)  # the video's frame size, set by its first frame
    # Nothing emitted yet: with --emit change the first frame is reported even without a label.
    last_label: object = object()
    fps, last_time, frame_no, classified = 0.0, None, -1, 0
    try:
        while not stopped():
            frame = source.read()
            if frame is None:
                break
            frame_no += 1
            start = time.perf_counter()
            height, width = frame.shape[:2]
            roi = clip_roi(options.roi, height, width) if options.roi else centred_square(height, width)
            x, y, w, h = roi
            crop = frame[y : y + h, x : x + w]
            if scene_shape is not None and crop.shape != scene_shape:
                # A reconnect may bring another frame size: the scene learnt so far cannot be
                # compared with these frames any more.
                print(f"{options.prog}: the frame size changed to {width}x{height}: learning "
                      "the empty scene again", file=sys.stderr, flush=True)
                scene, scene_shape = None, None
                scene_frames.clear()
            if scene is None and options.background_frames:
                if not scene_frames:
                    print(f"{options.prog}: capturing the empty scene: keep the garment out of "
                          "view", file=sys.stderr, flush=True)
                    scene_shape = crop.shape
                scene_frames.append(crop)
                if len(scene_frames) == options.background_frames:
                    scene = empty_scene(np.median(np.stack(scene_frames), axis=0).astype(np.uint8))
                    scene_frames.clear()
                continue
            prepared = classifier.prepare(crop, mode="photo", scene=scene)
            prediction = classifier.decide(smoother.update(classifier.probabilities(prepared)))
            latency_ms = (time.perf_counter() - start) * 1000
            now = time.perf_counter()
            if last_time is not None:
                rate = 1.0 / max(now - last_time, 1e-6)
                fps = rate if fps == 0.0 else 0.9 * fps + 0.1 * rate
            last_time = now
            record = {"time": round(time.time(), 3), "frame": frame_no,
                      "label": prediction.label, "class_id": prediction.class_id,
                      "score": prediction.score, "latency_ms": round(latency_ms, 2),
                      "fps": round(fps, 1)}
            if prediction.reason is not None:
                record["reason"] = prediction.reason
            if options.emit == "every" or prediction.label != last_label:
                write(record)
                last_label = prediction.label
            if options.show or options.record or on_frame:
                caption = (f"{prediction.label} {prediction.score:.2f}" if prediction.label
                           else prediction.reason) + f"  {fps:.0f} FPS"
                annotated = video.annotate(frame, roi, caption)
                if on_frame:
                    on_frame(annotated, record, prediction)
                if options.record:
                    if recorder is None:
                        recorder_size = (width, height)
                        recorder = video.open_writer(str(options.record), width, height, 15.0)
                        if recorder is None:
                            raise ValueError(f"{options.record}: cannot write video here")
                    if (width, height) != recorder_size:  # a video keeps its first frame size
                        annotated = imaging.resize(annotated, *recorder_size)
                    recorder.write(annotated)
                if options.show and not video.show(f"{options.prog}: {source.name}",
                                                     annotated):
                    break
            classified += 1
            if options.max_frames and classified >= options.max_frames:
                break
    finally:
        if recorder is not None:
            recorder.release()
        if options.show:
            video.close_windows()
    return classified
