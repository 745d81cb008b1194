"""Live sources in the field: the Pi camera's colours and imports, cameras that open but send
nothing, signals during reconnect waits, text and CSV records of frames, frame sizes that change."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime import Classifier
from edge_runtime.apps.classify import main
from edge_runtime.apps.live import LiveOptions, run_live
from edge_runtime.media.sources import (FrameSourceError, PiCameraSource, ResilientSource,
                                        RetryPolicy)
from tests.test_live import _frames_for, write_video

ROOT = Path(__file__).resolve().parent.parent
RED_RGB, BLUE_RGB = (230, 20, 10), (15, 30, 220)


# ---------------------------------------------------------------- the Pi camera (picamera2)

class FakePicamera2:
    """A test double of ``picamera2.Picamera2`` that lays frames out in memory the way the real
    library does for the format it is asked for. picamera2 names formats by their DRM codes,
    which read backwards in memory (its manual): "RGB888" is B, G, R per pixel, "BGR888" is
    R, G, B, and the X formats add a fourth byte of 255."""

    ORDERS = {"RGB888": (2, 1, 0), "BGR888": (0, 1, 2), "XRGB8888": (2, 1, 0, None),
              "XBGR8888": (0, 1, 2, None)}
    scene_rgb: np.ndarray  # what the lens sees, as R, G, B
    instances: list[FakePicamera2] = []

    def __init__(self) -> None:
        self.config, self.started, self.closed = None, False, False
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, main=None, controls=None):
        return {"main": {"size": (640, 480), "format": "XBGR8888", **(main or {})},
                "controls": controls or {}}

    def configure(self, config) -> None:
        if config["main"]["format"] not in self.ORDERS:
            raise RuntimeError(f"unsupported format {config['main']['format']}")
        self.config = config

    def start(self) -> None:
        assert self.config is not None, "start() before configure()"
        self.started = True

    def capture_array(self, name: str = "main") -> np.ndarray:
        assert self.started and not self.closed
        width, height = self.config[name]["size"]
        scene = cv2.resize(self.scene_rgb, (width, height), interpolation=cv2.INTER_NEAREST)
        planes = [np.full(scene.shape[:2], 255, np.uint8) if c is None else scene[:, :, c]
                  for c in self.ORDERS[self.config[name]["format"]]]
        return np.ascontiguousarray(np.dstack(planes))

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_picamera2(monkeypatch):
    """The fake class, installed as the ``picamera2`` module; its scene: red left, blue right."""
    scene = np.zeros((48, 64, 3), np.uint8)
    scene[:, :32], scene[:, 32:] = RED_RGB, BLUE_RGB
    FakePicamera2.scene_rgb, FakePicamera2.instances = scene, []
    module = type(sys)("picamera2")
    module.Picamera2 = FakePicamera2
    monkeypatch.setitem(sys.modules, "picamera2", module)
    return FakePicamera2


def test_pi_camera_frames_are_bgr_as_opencv_expects(fake_picamera2):
    source = PiCameraSource(64, 48)
    source.open()
    frame = source.read()
    source.close()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    assert frame[:, :32].reshape(-1, 3).tolist() == [list(RED_RGB[::-1])] * (48 * 32)
    assert frame[:, 32:].reshape(-1, 3).tolist() == [list(BLUE_RGB[::-1])] * (48 * 32)
    # OpenCV itself agrees: the left half is red (hue near 0), the right half blue (near 120).
    hue = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV_FULL)[:, :, 0].astype(int) * 360 // 256
    assert min(hue[0, 0], 360 - hue[0, 0]) < 10 and abs(hue[0, 63] - 230) < 15
    assert fake_picamera2.instances[0].closed


def test_fashion_classify_runs_on_the_pi_camera_and_releases_it(fake_picamera2, capsys):
    assert main(["--picamera", "--width", "64", "--height", "48", "--max-frames", "3"]) == 0
    records = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(records) == 3
    (camera,) = fake_picamera2.instances
    assert camera.config["main"]["size"] == (64, 48) and camera.closed and not camera.started


def _fake_package(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def importable(tmp_path, monkeypatch):
    """Make packages written into ``tmp_path`` importable, with no picamera2 imported yet."""
    for name in [m for m in sys.modules if m.split(".")[0] in ("picamera2", "simplejpeg",
                                                               "libcamera")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_picamera2_broken_by_numpy_2_names_the_module_the_error_and_the_fix(importable):
    # As on Raspberry Pi OS with numpy 2 in the venv: picamera2 imports simplejpeg, whose
    # compiled module was built for numpy 1.x and raises while it initialises.
    message = ("numpy.dtype size changed, may indicate binary incompatibility. Expected 96 "
               "from C header, got 88 from PyObject")
    _fake_package(importable, {
        "picamera2/__init__.py": "from .encoders import JpegEncoder\nclass Picamera2: pass\n",
        "picamera2/encoders.py": "import simplejpeg\nclass JpegEncoder: pass\n",
        "simplejpeg/__init__.py": "from ._jpeg import encode_jpeg\n",
        "simplejpeg/_jpeg.py": f"raise ValueError({message!r})\n",
    })
    with pytest.raises(FrameSourceError) as info:
        PiCameraSource().open()
    text = str(info.value)
    assert "picamera2 is installed but cannot be imported" in text
    assert "simplejpeg._jpeg" in text and f"ValueError: {message}" in text
    assert f"numpy {np.__version__}" in text and '".[picamera]"' in text
    assert "not installed" not in text and "\n" not in text


def test_picamera2_without_libcamera_says_so(importable):
    _fake_package(importable, {"picamera2/__init__.py": "import libcamera\nclass Picamera2: pass\n"})
    with pytest.raises(FrameSourceError) as info:
        PiCameraSource().open()
    text = str(info.value)
    assert "importing libcamera failed with ModuleNotFoundError: No module named 'libcamera'" in text
    assert "--system-site-packages" in text and "numpy" not in text


# ---------------------------------------------------------------- reconnecting

class FakeTime:
    """A clock that moves only when someone waits."""

    def __init__(self) -> None:
        self.now, self.waits = 0.0, []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False

    def clock(self) -> float:
        return self.now


class SilentCamera:
    """A live source that opens every time and delivers a frame only when told to."""

    name, live = "silent camera", True

    def __init__(self, deliver=()) -> None:
        self.deliver, self.opens, self.reads = set(deliver), 0, 0

    def open(self) -> None:
        self.opens += 1
        if self.opens > 100:
            raise AssertionError("reopened in a tight loop")

    def read(self):
        self.reads += 1
        if self.reads in self.deliver:
            return np.zeros((8, 8, 3), np.uint8)
        raise FrameSourceError(f"{self.name}: stopped delivering frames")

    def close(self) -> None:
        pass


def test_a_camera_that_opens_but_never_delivers_backs_off_and_gives_up():
    camera, fake, logs = SilentCamera(), FakeTime(), []
    source = ResilientSource(camera, RetryPolicy(first_delay_s=0.5, max_delay_s=8,
                                                 give_up_after_s=30), logs.append, fake.wait,
                             fake.clock)
    source.open()
    with pytest.raises(FrameSourceError, match=r"stopped delivering frames; gave up after 8 "
                                               r"attempts in 32 s"):
        source.read()
    assert fake.waits == [0.5, 1, 2, 4, 8, 8, 8]  # the backoff grows across successful opens
    assert camera.opens == 8


def test_a_frame_ends_the_outage_and_its_backoff():
    camera, fake = SilentCamera(deliver={3, 6}), FakeTime()
    source = ResilientSource(camera, RetryPolicy(first_delay_s=0.5), lambda _: None, fake.wait,
                             fake.clock)
    source.open()
    assert source.read() is not None  # reads 1, 2 fail (the second after a wait), 3 delivers
    assert fake.waits == [0.5, 1.0]
    assert source.read() is not None  # reads 4, 5 fail, 6 delivers: the backoff starts afresh
    assert fake.waits == [0.5, 1.0, 0.5]


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _fashion_classify(args: list[str], stderr) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge_runtime", *args], cwd=ROOT,
                            stderr=stderr, env=os.environ | {"PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_reconnect_wait_stops_within_a_second(tmp_path, sig):
    log, out = tmp_path / "stderr.txt", tmp_path / "out.jsonl"
    with open(log, "wb") as stderr:  # a camera that does not exist: reopened with backoff
        proc = _fashion_classify(["--camera", "99", "--give-up-after", "1000", "--output",
                                  str(out)], stderr)
    try:
        assert _wait_for(lambda: b"retrying in 2.0 s" in log.read_bytes(), 30), log.read_text()
        proc.send_signal(sig)
        sent = time.monotonic()
        status = proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert status == 0, log.read_text()
    assert took < 1.0, f"stopped {took:.2f} s after the signal, during a 2 s wait"
    assert out.exists() and "Traceback" not in log.read_text()


def test_a_second_interrupt_exits_at_once_even_inside_a_stalled_open(tmp_path):
    """A stream whose server accepts the connection and never answers keeps the main thread
    inside OpenCV's open for 30 s: the first Ctrl-C asks to stop, the second must end it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    connections = []
    threading.Thread(target=lambda: connections.append(server.accept()), daemon=True).start()
    log = tmp_path / "stderr.txt"
    url = f"http://127.0.0.1:{server.getsockname()[1]}/live.mjpg"
    with open(log, "wb") as stderr:
        proc = _fashion_classify(["--video", url, "--give-up-after", "1000"], stderr)
    try:
        assert _wait_for(lambda: connections, 30), log.read_text()
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert _wait_for(lambda: b"stopping" in log.read_bytes(), 2), log.read_text()
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        status = proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        server.close()
    assert status == 128 + signal.SIGINT and took < 1.0, (status, took, log.read_text())


# ---------------------------------------------------------------- records of frames

@pytest.fixture(scope="module")
def short_clip(fashion, tmp_path_factory):
    """A 640x480 video: an empty wall for 6 frames, then a garment for 10."""
    rng = np.random.default_rng(3)
    wall = np.clip(np.array([170, 185, 200]) + rng.normal(0, 3, (480, 640, 3)), 0, 255)
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    assert fashion.test.labels[1] == 2
    (garment,) = _frames_for(fashion, [1], rng)  # a pullover, held up in the middle
    frames = [wall.astype(np.uint8)] * 6 + [garment] * 10
    write_video(path, frames, hold=1)
    return path


def test_text_records_of_a_video(short_clip, capsys):
    assert main(["--video", str(short_clip), "--format", "text", "--smooth", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 16
    pattern = (r"\d\d:\d\d:\d\d\.\d{3} frame (\d+): (no label: no garment in view|\S.* \d\.\d{3})"
               r"  \(\d+\.\d ms, \d+\.\d FPS\)")
    matches = [re.fullmatch(pattern, line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == list(range(16))
    assert lines[0].split(": ", 1)[1].startswith("no label: no garment in view")
    assert lines[-1].split(": ", 1)[1].startswith("Pullover ")


def test_csv_records_of_a_video(short_clip, tmp_path):
    out = tmp_path / "frames.csv"
    assert main(["--video", str(short_clip), "--format", "csv", "--smooth", "1",
                 "--output", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == ["time", "frame", "label", "class_id", "score", "latency_ms", "fps",
                             "reason"]
    assert [int(r["frame"]) for r in rows] == list(range(16))
    assert rows[0]["label"] == "" and rows[0]["reason"] == "no garment in view"
    assert rows[-1]["label"] == "Pullover" and rows[-1]["class_id"] == "2"
    assert rows[-1]["reason"] == "" and 0 < float(rows[-1]["score"]) <= 1
    assert all(float(r["time"]) > 1e9 and float(r["latency_ms"]) > 0 for r in rows)


# ---------------------------------------------------------------- frame size changes

class ListCamera:
    """A live source that plays a list of frames."""

    name, live = "list camera", True

    def __init__(self, frames) -> None:
        self.frames = iter(frames)

    def open(self) -> None:
        pass

    def read(self):
        return next(self.frames, None)

    def close(self) -> None:
        pass


def test_background_is_learnt_again_when_a_reconnect_changes_the_frame_size(fashion, tmp_path,
                                                                             capsys):
    stripes = 150 + 25 * np.sin(np.arange(640) / 9.0)
    scene = np.clip(np.tile(stripes, (480, 1))[:, :, None] * [0.75, 0.9, 1.0], 0, 255)
    scene = scene.astype(np.uint8)
    garment = cv2.resize(fashion.test.images[1], (300, 300))  # a pullover, dark blue
    with_garment = scene.copy()
    inside = garment > 20
    shade = (1.0 - garment[inside, None] / 255.0 * 0.6) * np.array([120, 60, 30])
    with_garment[90:390, 170:470][inside] = shade.astype(np.uint8)
    # 3 scene frames and 4 garment frames at 640x480; then the camera comes back in a square
    # mode, 480x480, and the whole-frame ROI has another shape.
    frames = [scene] * 3 + [with_garment] * 4 + [scene[:, 80:560]] * 3 + \
        [with_garment[:, 80:560]] * 4
    records = []
    with Classifier() as clf:
        classified = run_live(ListCamera(frames), clf, records.append,
                              LiveOptions(roi=(0, 0, 640, 480), background_frames=3, smooth=1,
                                          record=tmp_path / "annotated.avi"), lambda: False)
    assert classified == 8
    assert [r["frame"] for r in records] == [3, 4, 5, 6, 10, 11, 12, 13]
    assert [r["label"] for r in records] == ["Pullover"] * 8, records
    assert "frame size changed to 480x480: learning the empty scene again" in \
        capsys.readouterr().err
    capture = cv2.VideoCapture(str(tmp_path / "annotated.avi"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 8  # every frame, at the first size
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == \
        (640, 480)
    capture.release()
