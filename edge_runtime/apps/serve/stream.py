"""The live side of the server: the camera's thread (its own classifier, the live loop of
``fashion-classify``) and the hub that hands its latest frame and record to every client.

The camera runs whether or not anyone watches. Clients wait for the next frame and take the
latest one, so a slow or departing client never holds up the camera or the other clients.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from edge_runtime.apps.live import LiveOptions, run_live
from edge_runtime.classifier import Classifier, ClassifierOptions
from edge_runtime.interpreter.runner import LoadedModel, load_model
from edge_runtime.media import image_io
from edge_runtime.media.sources import FrameSource, FrameSourceError
from edge_runtime.predictions import Prediction

JPEG_QUALITY = 80
STATES = ("starting", "running", "stopped", "failed")


def _say(line: str) -> None:
    print(f"fashion-serve: {line}", file=sys.stderr, flush=True)


class FrameHub:
    """The latest annotated frame (JPEG) and live record, published by the camera's thread
    and read by the server's clients on the event loop.

    ``record`` is the live record of ``fashion-classify`` with the prediction's ``top_k``
    added. Frames are JPEG-encoded only while at least one client watches the stream
    (``viewers``): a camera nobody watches costs no encoding.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, source: str | None) -> None:
        self.source = source
        self.state, self.error = ("starting" if source else "stopped"), None
        self.record: dict | None = None
        self.jpeg: bytes | None = None
        self.seq = 0  # frames published so far
        self.viewers = 0
        self.closed = False
        self._loop = loop
        self._changed = asyncio.Event()

    # --- the camera's thread
    def publish(self, annotated: np.ndarray, record: dict, prediction: Prediction) -> None:
        """Hand over one classified frame (``run_live``'s ``on_frame``); thread-safe."""
        full = {**record, "top_k": prediction.as_dict()["top_k"]}
        jpeg = image_io.encode_jpeg(annotated, JPEG_QUALITY) if self.viewers else None
        self._call(self._commit, full, jpeg)

    def set_state(self, state: str, error: str | None = None) -> None:
        """The live source's state (``STATES``) and, when it failed, why; thread-safe."""
        self._call(self._commit_state, state, error)

    def _call(self, function: Callable, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(function, *args)
        except RuntimeError:  # the loop has closed: the server is stopping
            pass

    # --- the event loop
    def _commit(self, record: dict, jpeg: bytes | None) -> None:
        self.record, self.jpeg = record, jpeg
        self.seq += 1
        self._wake()

    def _commit_state(self, state: str, error: str | None) -> None:
        self.state, self.error = state, error
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        """Wake every waiting client for the last time: the server is stopping."""
        self.closed = True
        self._wake()

    async def wait_change(self, seq: int, state: str, timeout: float) -> None:
        """Return once a frame after ``seq`` was published, the state differs from ``state``,
        the hub closed, or ``timeout`` seconds passed."""
        if self.seq != seq or self.state != state or self.closed:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def status(self) -> dict:
        """The stream's part of ``/api/health``."""
        return {"source": self.source, "state": self.state, "error": self.error,
                "frames": self.seq, "viewers": self.viewers}


class RepeatingVideo:
    """A video file played as a camera delivers frames: ``fps`` a second, and from the start
    again at its end, so that a server on a file runs until it is stopped. ``wait(s)`` waits
    up to ``s`` seconds and returns true when a stop was asked for (an Event's ``wait``)."""

    live = False

    def __init__(self, source: FrameSource, fps: float,
                 wait: Callable[[float], bool | None]) -> None:
        if fps <= 0:
            raise ValueError(f"frame rate {fps}, expected > 0")
        self.source, self.name, self.interval, self.wait = source, source.name, 1.0 / fps, wait
        self._due: float | None = None

    def open(self) -> None:
        """Open the file (FrameSourceError when it cannot be)."""
        self.source.open()
        self._due = None

    def read(self) -> np.ndarray | None:
        """The next frame, when it is due; None for a file without frames or after a stop."""
        frame = self.source.read()
        if frame is None:  # the end: from the start again
            self.source.close()
            self.source.open()
            frame = self.source.read()
            if frame is None:
                return None
        now = time.monotonic()
        if self._due is None or now > self._due + self.interval:
            self._due = now  # first frame, or running late: do not rush to catch up
        elif self._due > now and self.wait(self._due - now):
            return None
        self._due += self.interval
        return frame

    def close(self) -> None:
        """Close the file."""
        self.source.close()


class LabelLog:
    """``run_live``'s ``write``: each change of the smoothed label as a JSON line on stdout
    (the journal of a server on a Pi). A closed stdout ends the log, never the camera."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, record: dict) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe or file
            self.stream = None


class LiveWorker:
    """The camera's thread: makes its own classifier (its models by ``loader``), opens the
    source and runs the live loop until the source ends or fails for good, or ``stop`` is set,
    publishing every frame to the hub."""

    def __init__(self, source: FrameSource, options: ClassifierOptions, live: LiveOptions,
                 hub: FrameHub, stop: threading.Event,
                 loader: Callable[..., LoadedModel] = load_model) -> None:
        self.source, self.options, self.live, self.hub, self.stop = source, options, live, hub, stop
        self.loader = loader
        self.thread = threading.Thread(target=self._run, name="fashion-serve live", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread (after ``stop`` was set)."""
        self.thread.join(timeout)

    def _run(self) -> None:
        try:
            with Classifier.from_options(self.options, self.loader) as classifier:
                self.source.open()
                self.hub.set_state("running")
                run_live(self.source, classifier, LabelLog(), self.live, self.stop.is_set,
                         on_frame=self.hub.publish)
            self.hub.set_state("stopped")
        except (FrameSourceError, ValueError) as exc:  # ValueError: an ROI outside the frame
            _say(f"live source: {exc}; uploads go on")
            self.hub.set_state("failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - the server outlives its camera
            detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            _say(f"live source: {detail}; uploads go on")
            self.hub.set_state("failed", detail)
        finally:
            self.source.close()
