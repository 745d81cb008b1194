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
    "picamera2 is not installed here. It comes from apt, not pip: 'sudo apt install "
    "python3-picamera2', then make the virtual environment with --system-site-packages "
    "(python3 -m venv --system-site-packages .venv) so it can see it"
)
# picamera2 and its helpers (simplejpeg, libcamera) are apt packages built against Raspberry Pi
# OS's numpy 1.x; a numpy 2 installed in the venv shadows it and they fail to import.
PICAMERA_NUMPY_FIX = (
    "picamera2 from apt is built for the system's numpy 1.x, and this environment has numpy "
    "{numpy}: install the device part with the picamera extra, which keeps numpy < 2 "
    "(pip install -e \".[picamera]\", in a venv made with --system-site-packages)"
)
PICAMERA_LIBCAMERA_FIX = (
    "libcamera's Python bindings come from apt (python3-libcamera, installed with "
    "python3-picamera2): make the venv with --system-site-packages so it sees them"
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
        from edge_runtime.media import video

        self._capture = video.open_capture(self.target, *self.size, self.fps)
        if self._capture is None:
            raise FrameSourceError(f"{self.name}: cannot open (no such device or file, or a "
                                   "format OpenCV cannot read)")
        self._expected = 0 if self.live else video.frame_count(self._capture)
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


def import_failure(exc: BaseException) -> str:
    """Why ``from picamera2 import Picamera2`` failed, in one line: the module that failed, the
    error it raised, and the fix where it is known."""
    if isinstance(exc, ModuleNotFoundError) and exc.name == "picamera2":
        return PICAMERA_HELP
    module = exc.name if isinstance(exc, ImportError) and exc.name else _raising_module(exc)
    detail = " ".join(str(exc).split())
    message = (f"picamera2 is installed but cannot be imported: importing {module} failed with "
               f"{type(exc).__name__}: {detail}")
    if "numpy" in detail.lower():
        message += "; " + PICAMERA_NUMPY_FIX.format(numpy=np.__version__)
    elif module.split(".")[0] == "libcamera":
        message += "; " + PICAMERA_LIBCAMERA_FIX
    return message


def _raising_module(exc: BaseException) -> str:
    """The module whose code raised ``exc``: the innermost frame outside the import machinery
    (a compiled module reports its own frame, e.g. ``simplejpeg._jpeg``)."""
    module, tb = "picamera2", exc.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith("<frozen"):
            module = tb.tb_frame.f_globals.get("__name__", module)
        tb = tb.tb_next
    return module


class PiCameraSource:
    """The Raspberry Pi CSI camera through picamera2 (OpenCV cannot open it under libcamera)."""

    live = True
    # picamera2 names formats by their libcamera (DRM) codes, which read backwards in memory:
    # its "RGB888" is laid out B, G, R per pixel, which is OpenCV's BGR.
    FORMAT = "RGB888"

    def __init__(self, width: int = 640, height: int = 480, fps: float | None = None) -> None:
        self.size, self.fps, self.name = (width, height), fps, "picamera"
        self._camera = None

    def open(self) -> None:
        """Start the camera; FrameSourceError saying what failed when picamera2 cannot be
        imported (not installed, or installed against another numpy), or the camera cannot
        start."""
        try:
            from picamera2 import Picamera2  # lazy: apt package, present only on a Pi
        except Exception as exc:  # noqa: BLE001 - a broken dependency raises ValueError too
            raise FrameSourceError(import_failure(exc)) from None
        try:
            self._camera = Picamera2()
            controls = {"FrameRate": self.fps} if self.fps else {}
            config = self._camera.create_video_configuration(
                main={"size": self.size, "format": self.FORMAT}, controls=controls)
            self._camera.configure(config)
            self._camera.start()
        except Exception as exc:  # noqa: BLE001 - libcamera raises many types; report them all
            self.close()
            raise FrameSourceError(f"picamera: cannot start ({exc})") from None

    def read(self) -> np.ndarray | None:
        """The next frame (BGR)."""
        try:
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


@dataclass
class _Outage:
    """A live source's failure that no frame has ended yet."""

    start: float
    delay: float
    attempts: int = 0


class ResilientSource:
    """Wrap a live source: on failure, log one line, wait with backoff, reopen; give up after
    ``policy.give_up_after_s`` with FrameSourceError. File sources pass through unchanged.

    An outage lasts until a frame arrives, not until the source opens again: a camera that
    opens but delivers nothing backs off and gives up like one that cannot open. ``wait(s)``
    waits up to ``s`` seconds and returns true when the caller asked to stop (pass a
    ``threading.Event``'s ``wait``, so a signal ends a long wait at once); ``clock`` measures
    the outage. Log lines go to ``log``, by default to stderr behind the command's name ``prog``.
    """

    def __init__(self, source: FrameSource, policy: RetryPolicy | None = None,
                 log: Callable[[str], None] | None = None,
                 wait: Callable[[float], bool | None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, prog: str = "fashion-classify"
                 ) -> None:
        self.source, self.policy = source, policy or RetryPolicy()
        self.log = log or (lambda line: print(f"{prog}: {line}", file=sys.stderr, flush=True))
        self.wait, self.clock = wait, clock
        self.name, self.live = source.name, source.live
        self.stopped = False
        self._outage: _Outage | None = None

    def open(self) -> None:
        """Open the source, retrying a live one (``stopped`` is set when a stop ended that)."""
        self._recover()

    def read(self) -> np.ndarray | None:
        """The next frame, reopening a failed live source as often as the policy allows; None
        at the end of a file or once a stop was asked for during a wait."""
        while not self.stopped:
            try:
                frame = self.source.read()
            except FrameSourceError as exc:
                if not self.source.live:
                    raise
                self.log(f"{exc}; reopening")
                self._recover(str(exc))
                continue
            self._outage = None  # a frame: the outage, its backoff and its clock are over
            return frame
        return None

    def close(self) -> None:
        """Close the source."""
        self.source.close()

    def _recover(self, failure: str | None = None) -> None:
        """(Re)open the source. The first attempt of an outage is immediate; each later one,
        including a reopen after a read failed again with no frame in between, waits the next
        backoff delay first."""
        while True:
            if self._outage is None:
                self._outage = _Outage(self.clock(), self.policy.first_delay_s)
            elif failure is not None:
                outage = self._outage
                elapsed = self.clock() - outage.start
                if elapsed >= self.policy.give_up_after_s:
                    raise FrameSourceError(f"{failure}; gave up after {outage.attempts} attempts "
                                           f"in {elapsed:.0f} s")
                self.log(f"{failure}; attempt {outage.attempts} failed, "
                         f"retrying in {outage.delay:.1f} s")
                if self.wait(outage.delay):
                    self.stopped = True
                    return
                outage.delay = min(outage.delay * 2, self.policy.max_delay_s)
            self._outage.attempts += 1
            try:
                self.source.close()
                self.source.open()
            except FrameSourceError as exc:
                if not self.source.live:
                    raise
                failure = str(exc)
                continue
            if self._outage.attempts > 1 or failure is not None:
                self.log(f"{self.name}: open (attempt {self._outage.attempts})")
            return

