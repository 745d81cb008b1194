"""Frame sources behind one interface: USB webcams and video files or streams (through OpenCV),
and the Pi's CSI camera (through picamera2, the only module that imports it).

A source's ``read()`` returns a BGR frame, or None at the end of a finite stream; it raises
:class:`FrameSourceError` when the device fails. :class:`ResilientSource` adds the retry policy.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

PICAMERA_HELP = (
    "picamera2 is not importable. It comes from apt, not pip: 'sudo apt install "
    "python3-picamera2', then make the virtual environment with --system-site-packages "
    "(python3 -m venv --system-site-packages .venv) so it can see it"
)


class FrameSourceError(RuntimeError):
    """The source failed to open or stopped delivering frames."""


class TruncatedVideoError(FrameSourceError):
    """A video file ended before the frames its header announces."""


class FrameSource(Protocol):
    """What the live loop needs from a camera or a video."""

    name: str
    live: bool  # a camera or stream (retry on failure) rather than a file (end means done)

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class OpenCVSource:
    """A USB/V4L2 camera (an int index) or a video file or URL, read through OpenCV."""

    def __init__(self, target: int | str, width: int | None = None, height: int | None = None,
                 fps: float | None = None) -> None:
        self.target, self.size, self.fps = target, (width, height), fps
        self.live = isinstance(target, int) or "://" in str(target)
        self.name = f"camera {target}" if isinstance(target, int) else str(target)
        self._capture = None
        self._expected = self._read_count = 0

    def open(self) -> None:
        """Open the device or file; FrameSourceError when it cannot be opened."""
        from edge_runtime.media import imaging

        self._capture = imaging.open_capture(self.target, *self.size, self.fps)
        if self._capture is None:
            raise FrameSourceError(f"{self.name}: cannot open (no such device or file, or a "
                                   "format OpenCV cannot read)")
        self._expected = 0 if self.live else imaging.frame_count(self._capture)
        self._read_count = 0

    def read(self) -> np.ndarray | None:
        """The next frame; None at the end of a file; FrameSourceError when a camera fails."""
        ok, frame = self._capture.read()
        if ok and frame is not None:
            self._read_count += 1
            return frame
        if self.live:
            raise FrameSourceError(f"{self.name}: stopped delivering frames")
        if self._expected and self._read_count < self._expected:
            raise TruncatedVideoError(
                f"{self.name}: video ended after {self._read_count} of the {self._expected} "
                "frames its header announces (truncated or corrupt)")
        return None

    def close(self) -> None:
        """Release the device or file."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class PiCameraSource:
    """The Raspberry Pi CSI camera through picamera2 (OpenCV cannot open it under libcamera)."""

    live = True

    def __init__(self, width: int = 640, height: int = 480, fps: float | None = None) -> None:
        self.size, self.fps, self.name = (width, height), fps, "picamera"
        self._camera = None

    def open(self) -> None:
        """Start the camera; FrameSourceError with the apt and venv advice when picamera2 is
        missing."""
        try:
            from picamera2 import Picamera2  # lazy: apt package, present only on a Pi
        except ImportError:
            raise FrameSourceError(PICAMERA_HELP) from None
        try:
            self._camera = Picamera2()
            controls = {"FrameRate": self.fps} if self.fps else {}
            config = self._camera.create_video_configuration(
                main={"size": self.size, "format": "BGR888"}, controls=controls)
            self._camera.configure(config)
            self._camera.start()
        except Exception as exc:  # noqa: BLE001 - libcamera raises many types; report them all
            self.close()
            raise FrameSourceError(f"picamera: cannot start ({exc})") from None

    def read(self) -> np.ndarray | None:
        """The next frame (BGR)."""
        try:
            # picamera2's "BGR888" is B,G,R-ordered in memory as OpenCV expects.
            return self._camera.capture_array("main")[:, :, :3]
        except Exception as exc:  # noqa: BLE001
            raise FrameSourceError(f"picamera: stopped delivering frames ({exc})") from None

    def close(self) -> None:
        """Stop the camera."""
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            finally:
                self._camera = None


@dataclass
class RetryPolicy:
    """Backoff between reopen attempts, and how long to keep trying before giving up."""

    first_delay_s: float = 0.5
    max_delay_s: float = 8.0
    give_up_after_s: float = 60.0


class ResilientSource:
    """Wrap a live source: on failure, log one line, wait with backoff, reopen; give up after
    ``policy.give_up_after_s`` with FrameSourceError. File sources pass through unchanged."""

    def __init__(self, source: FrameSource, policy: RetryPolicy | None = None,
                 log: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.source, self.policy = source, policy or RetryPolicy()
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.sleep = sleep
        self.name, self.live = source.name, source.live

    def open(self) -> None:
        """Open the source, retrying a live one."""
        self._recover(first=True)

    def read(self) -> np.ndarray | None:
        """The next frame, reopening a failed live source as often as the policy allows."""
        while True:
            try:
                return self.source.read()
            except FrameSourceError as exc:
                if not self.source.live:
                    raise
                self.log(f"fashion-classify: {exc}; reopening")
                self._recover()

    def close(self) -> None:
        """Close the source."""
        self.source.close()

    def _recover(self, first: bool = False) -> None:
        delay, waited, attempt = self.policy.first_delay_s, 0.0, 0
        while True:
            attempt += 1
            try:
                if not first:
                    self.source.close()
                self.source.open()
                if attempt > 1 or not first:
                    self.log(f"fashion-classify: {self.name}: open (attempt {attempt})")
                return
            except FrameSourceError as exc:
                if not self.source.live:
                    raise
                if waited >= self.policy.give_up_after_s:
                    raise FrameSourceError(
                        f"{exc}; gave up after {attempt} attempts in {waited:.0f} s") from None
                self.log(f"fashion-classify: {exc}; attempt {attempt} failed, retrying in "
                         f"{delay:.1f} s")
                self.sleep(delay)
                waited += delay
                delay = min(delay * 2, self.policy.max_delay_s)
                first = False
