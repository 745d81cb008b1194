"""Live classification on real video files written here, and on frame sources that misbehave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime import Classifier
from edge_runtime.apps.classify import main
from edge_runtime.media.image_io import decode_image
from edge_runtime.apps.live import LiveOptions, Smoother, centred_square, parse_roi, run_live
from edge_runtime.media.sources import (FrameSourceError, PiCameraSource, ResilientSource,
                                  RetryPolicy)
from tests.test_photos import synthetic_photo

ROOT = Path(__file__).resolve().parent.parent
HOLD = 20  # frames each garment is held in front of the camera


def _frames_for(fashion, indices, rng, size=(640, 480)):
    """Camera frames of test-set garments held up in the middle of the view."""
    frames = []
    for i in indices:
        photo = decode_image(synthetic_photo(fashion.test.images[i], "light", rng,
                                             centred=True)).pixels
        frames.append(cv2.resize(photo, size))
    return frames


def _reads_right(clf: Classifier, frame: np.ndarray, expected: int) -> bool:
    """Whether the live path (centred ROI, photo preparation) reads this frame right."""
    x, y, w, h = centred_square(*frame.shape[:2])
    prepared = clf.prepare(frame[y : y + h, x : x + w], mode="photo")
    return prepared.garment_found and int(np.argmax(clf.probabilities(prepared))) == expected


def write_video(path: Path, frames, hold: int, fps: float = 15.0) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        for _ in range(hold):
            writer.write(frame)
    writer.release()


@pytest.fixture(scope="module")
def garment_video(fashion, tmp_path_factory):
    """A video of four garments, each held for HOLD frames, that the model reads right one by one."""
    rng = np.random.default_rng(5)
    chosen, frames = [], []
    with Classifier() as clf:
        for c in (9, 1, 2, 7, 0, 3, 5, 8):  # distinct classes; keep the first four that work
            for i in np.flatnonzero(fashion.test.labels == c)[:20]:
                (frame,) = _frames_for(fashion, [i], rng)
                if _reads_right(clf, frame, c):
                    chosen.append(c)
                    frames.append(frame)
                    break
            if len(chosen) == 4:
                break
    path = tmp_path_factory.mktemp("video") / "garments.avi"
    write_video(path, frames, HOLD)
    return path, chosen


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_smoothed_labels_follow_the_garments(garment_video, capsys):
    path, classes = garment_video
    assert main(["--video", str(path), "--smooth", "5"]) == 0
    records = _records(capsys.readouterr().out)
    assert len(records) == HOLD * len(classes)
    assert [r["frame"] for r in records] == list(range(len(records)))
    for segment, expected in enumerate(classes):
        settled = records[segment * HOLD + 5 : (segment + 1) * HOLD]  # after the smoothing window
        assert all(r["class_id"] == expected for r in settled), (segment, expected, settled[:3])
    assert {"time", "frame", "label", "class_id", "score", "latency_ms", "fps"} <= set(records[0])


def test_record_writes_an_annotated_video_of_every_frame(garment_video, tmp_path):
    path, classes = garment_video
    recorded = tmp_path / "annotated.avi"
    assert main(["--video", str(path), "--record", str(recorded), "--output",
                 str(tmp_path / "out.jsonl")]) == 0
    capture = cv2.VideoCapture(str(recorded))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = capture.read()
    capture.release()
    assert ok and frames == HOLD * len(classes) and first.shape == (480, 640, 3)
    assert first[:30].mean() < first[100:].mean()  # the caption bar drawn across the top


def test_emit_change_reports_each_garment_once(garment_video, capsys):
    path, classes = garment_video
    assert main(["--video", str(path), "--smooth", "8", "--emit", "change"]) == 0
    labels = [r["class_id"] for r in _records(capsys.readouterr().out)]
    assert [c for c in labels if c in classes] == classes


def test_truncated_video_is_an_error_and_keeps_earlier_frames(garment_video, tmp_path, capsys):
    path, _ = garment_video
    cut = tmp_path / "cut.avi"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.jsonl"
    status = main(["--video", str(cut), "--output", str(out)])
    err = capsys.readouterr().err
    kept = _records(out.read_text())
    assert status == 1 and "truncated or corrupt" in err and "Traceback" not in err
    assert 10 <= len(kept) < HOLD * 4


def test_missing_video_is_a_clear_error(tmp_path, capsys):
    assert main(["--video", str(tmp_path / "none.mp4"), "--give-up-after", "0"]) == 1
    assert "cannot open" in capsys.readouterr().err


class FlakyCamera:
    """A live source that fails on some reads and some opens, then recovers."""

    name, live = "flaky camera", True

    def __init__(self, frame: np.ndarray, fail_reads=(), fail_opens=0, frames=40):
        self.frame, self.fail_reads, self.fail_opens, self.frames = frame, set(fail_reads), \
            fail_opens, frames
        self.reads = self.opens = 0

    def open(self):
        self.opens += 1
        if self.opens <= self.fail_opens:
            raise FrameSourceError(f"{self.name}: cannot open")

    def read(self):
        self.reads += 1
        if self.reads in self.fail_reads:
            raise FrameSourceError(f"{self.name}: stopped delivering frames")
        return self.frame if self.reads <= self.frames else None

    def close(self):
        pass


def test_a_failing_camera_is_reopened_and_the_stream_goes_on(fashion):
    rng = np.random.default_rng(2)
    (frame,) = _frames_for(fashion, [1], rng)
    camera = FlakyCamera(frame, fail_reads={5, 6, 20}, fail_opens=2)
    logs, sleeps = [], []
    source = ResilientSource(camera, RetryPolicy(first_delay_s=0.5), logs.append, sleeps.append)
    records = []
    with Classifier() as clf:
        source.open()
        done = run_live(source, clf, records.append, LiveOptions(), lambda: False)
    assert done == 40 - 3 and len(records) == done  # every delivered frame was classified
    assert sleeps[:2] == [0.5, 1.0]  # backoff doubles
    assert sum("reopening" in line for line in logs) == 3
    assert all("\n" not in line for line in logs)


def test_a_dead_camera_is_given_up_on_with_a_clear_error():
    camera = FlakyCamera(np.zeros((4, 4, 3), np.uint8), fail_opens=10**6)
    sleeps = []
    source = ResilientSource(camera, RetryPolicy(first_delay_s=1, max_delay_s=4,
                                                 give_up_after_s=20), lambda _: None,
                             sleeps.append, clock=lambda: sum(sleeps))
    with pytest.raises(FrameSourceError, match="gave up after"):
        source.open()
    assert sleeps == [1, 2, 4, 4, 4, 4, 4]  # capped backoff until 20 s were spent


def test_sigint_flushes_what_was_emitted_and_exits_0(fashion, tmp_path):
    rng = np.random.default_rng(4)
    frames = _frames_for(fashion, [0, 1], rng, size=(320, 240))
    video = tmp_path / "long.avi"
    write_video(video, frames, hold=1500)
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "edge_runtime", "--video", str(video),
                             "--output", str(out)], cwd=ROOT, stderr=subprocess.PIPE,
                            env=os.environ | {"PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 2000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    records = _records(out.read_text())  # every line complete, valid JSON
    assert 10 < len(records) < 3000
    assert [r["frame"] for r in records] == list(range(len(records)))


def test_memory_stays_flat_over_a_long_run(fashion):
    rng = np.random.default_rng(6)
    (frame,) = _frames_for(fashion, [3], rng, size=(320, 240))
    camera = FlakyCamera(frame, frames=10**9)
    sizes = []

    def write(record):
        if record["frame"] in (500, 3000):
            sizes.append(tracemalloc.get_traced_memory()[0])

    tracemalloc.start()
    try:
        with Classifier() as clf:
            run_live(camera, clf, write, LiveOptions(max_frames=3001), lambda: False)
    finally:
        tracemalloc.stop()
    assert sizes[1] - sizes[0] < 200_000, sizes  # bytes: no per-frame growth


def test_background_model_isolates_the_garment(fashion):
    rng = np.random.default_rng(8)
    stripes = 150 + 25 * np.sin(np.arange(640) / 9.0)
    scene = np.clip(np.tile(stripes, (480, 1))[:, :, None] * [0.75, 0.9, 1.0], 0, 255)
    scene = scene.astype(np.uint8)
    garment = cv2.resize(fashion.test.images[1], (300, 300))  # a pullover
    with_garment = scene.copy()
    region = with_garment[90:390, 170:470]
    inside = garment > 20
    # A dark-blue pullover whose shading follows the test image's own.
    shade = (1.0 - garment[inside, None] / 255.0 * 0.6) * np.array([120, 60, 30])
    region[inside] = shade.astype(np.uint8)
    frames = [scene + rng.integers(0, 3, scene.shape, dtype=np.uint8) for _ in range(5)]
    frames += [with_garment] * 10
    source = FlakyCamera(frames[0])
    remaining = iter(frames)
    source.read = lambda: next(remaining, None)
    records = []
    with Classifier() as clf:
        run_live(source, clf, records.append, LiveOptions(background_frames=5, smooth=3),
                 lambda: False)
    assert len(records) == 10 and records[0]["frame"] == 5
    assert records[-1]["label"] == "Pullover"


def test_options_are_checked(capsys):
    with pytest.raises(SystemExit):
        main(["--video", "x.avi", "--roi", "1,2,3"])
    assert "expected x,y,w,h" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--video", "x.avi", "some.png"])
    with pytest.raises(ValueError):
        parse_roi("0,0,0,10")
    smoother = Smoother(3, 2)
    smoother.update(np.array([1.0, 0.0]))
    assert smoother.update(None).tolist() == [0.5, 0.0]


def test_picamera_without_picamera2_explains_the_apt_install(capsys):
    try:
        import picamera2  # noqa: F401
        pytest.skip("picamera2 is installed here")
    except ImportError:
        pass
    with pytest.raises(FrameSourceError, match="apt install python3-picamera2"):
        PiCameraSource().open()
    assert main(["--picamera", "--give-up-after", "0"]) == 1
    assert "--system-site-packages" in capsys.readouterr().err


def test_show_without_a_display_is_a_usage_error_not_a_crash(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["--video", "x.avi", "--show"])
    assert info.value.code == 2
    assert "--show: no display" in capsys.readouterr().err


@pytest.mark.parametrize("emit", ["every", "change"])
def test_an_empty_scene_is_never_a_class(tmp_path, emit, capsys):
    """No garment in view, from the first frame on: label null with the reason, never a class
    with score 0 (as the first frame of an empty scene was reported before)."""
    rng = np.random.default_rng(11)
    light = np.linspace(0.9, 1.05, 640)[None, :, None]  # a wall lit from one side
    wall = np.clip(np.array([170, 185, 200]) * light + rng.normal(0, 3, (480, 640, 3)),
                   0, 255).astype(np.uint8)
    video = tmp_path / "empty.avi"
    write_video(video, [wall], hold=12)
    assert main(["--video", str(video), "--emit", emit]) == 0
    records = _records(capsys.readouterr().out)
    assert records and records[0]["frame"] == 0
    assert all(r["label"] is None and r["class_id"] is None and r["score"] is None
               and r["reason"] == "no garment in view" for r in records), records[:2]
    assert len(records) == (12 if emit == "every" else 1)


def test_a_garment_that_leaves_the_view_gives_no_label_once_most_frames_are_empty():
    smoother = Smoother(5, 2)
    garment = np.array([0.9, 0.1])
    assert smoother.update(garment).tolist() == pytest.approx([0.9, 0.1])
    smoother.update(garment)
    assert smoother.update(None) is not None  # one empty frame of three: still the garment
    assert smoother.update(None) is not None  # two of four
    assert smoother.update(None) is None  # three of five: no garment in view
