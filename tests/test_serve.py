"""fashion-serve over HTTP: servers started on a free loopback port (with a video of real
test-set garments as the live source, or uploads only), and the page in a real browser."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("aiohttp", reason="fashion-serve needs the serve extra: "
                    "pip install -e '.[serve]'")

from edge_runtime import Classifier
from edge_runtime.apps.batch import classify_files
from edge_runtime.apps.serve.cli import main
from edge_runtime.apps.serve.security import host_is_loopback_name, is_loopback, resolve_token
from edge_runtime.labels import FASHION_MNIST_LABELS
from edge_runtime.media.inputs import InputItem
from tests.test_live import garment_video  # noqa: F401 - a fixture, behind `video`
from tests.test_photos import synthetic_photo

ROOT = Path(__file__).resolve().parent.parent
LIVE_KEYS = {"time", "frame", "label", "class_id", "score", "latency_ms", "fps", "top_k"}


# ---------------------------------------------------------------- a server in its own process

class Server:
    """``python -m edge_runtime.apps.serve ARGS --port 0`` in its own process; ``port`` is read
    from the line it prints at start."""

    def __init__(self, args: list[str], tmp: Path) -> None:
        self.log = tmp / f"serve-{time.monotonic_ns()}.log"
        with open(self.log, "w") as err, open(self.log.with_suffix(".out"), "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge_runtime.apps.serve", "--port", "0", *args],
                cwd=ROOT, stdout=out, stderr=err)
        deadline = time.monotonic() + 60
        while not (found := re.search(r"serving http://[^:]+:(\d+)/", self.stderr())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"fashion-serve did not start: {self.stderr()}")
            time.sleep(0.05)
        self.port = int(found.group(1))

    def stderr(self) -> str:
        return self.log.read_text()

    def connection(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = self.connection()
        try:
            conn.request(method, path, body, headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def json(self, path: str, headers: dict | None = None) -> tuple[int, object]:
        status, _, body = self.request("GET", path, headers=headers)
        return status, json.loads(body)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def multipart(files: list[tuple[str, bytes]], boundary: str = "test-boundary-7d1") -> tuple[
        bytes, dict]:
    """A multipart/form-data body with one ``file`` field per (name, bytes), and its headers."""
    parts = [b"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
             b"Content-Type: application/octet-stream\r\n\r\n%s\r\n"
             % (boundary.encode(), name.encode(), data) for name, data in files]
    body = b"".join(parts) + b"--%s--\r\n" % boundary.encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(server: Server, files: list[tuple[str, bytes]], query: str = "",
           headers: dict | None = None) -> tuple[int, object]:
    body, form_headers = multipart(files)
    status, _, answer = server.request("POST", "/api/classify" + query, body,
                                       {**form_headers, **(headers or {})})
    return status, json.loads(answer)


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    """Poll ``condition()`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout} s")


def read_parts(server: Server, n: int) -> list[bytes]:
    """The first ``n`` JPEG frames of the MJPEG stream."""
    conn = server.connection()
    conn.request("GET", "/stream.mjpg")
    response = conn.getresponse()
    assert response.status == 200
    boundary = response.getheader("Content-Type").split("boundary=")[1].encode()
    frames = []
    try:
        while len(frames) < n:
            line = response.fp.readline()
            if line.strip() != b"--" + boundary:
                continue
            headers = {}
            while (line := response.fp.readline().strip()):
                key, _, value = line.decode().partition(":")
                headers[key.lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            frames.append(response.fp.read(int(headers["content-length"])))
    finally:
        conn.close()
    return frames


def read_events(server: Server, n: int, path: str = "/api/events") -> list[tuple[str, dict]]:
    """The first ``n`` server-sent events, (event name, data)."""
    conn = server.connection()
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
    events, name = [], None
    try:
        while len(events) < n:
            line = response.fp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    finally:
        conn.close()
    return events


@pytest.fixture(scope="module")
def video(garment_video):  # noqa: F811 - test_live's fixture
    """(path, classes): test_live's video of four garments the model reads right."""
    return garment_video


@pytest.fixture(scope="module")
def live_server(video, tmp_path_factory):
    """A server on the garment video, with its first frame classified."""
    path, classes = video
    server = Server(["--video", str(path)], tmp_path_factory.mktemp("serve"))
    try:
        wait_for(lambda: server.json("/api/latest")[0] == 200, what="a first live record")
        yield server, classes
    finally:
        assert server.stop() == 0, server.stderr()


@pytest.fixture(scope="module")
def upload_server(tmp_path_factory):
    """A server without a live source, that requires a token."""
    server = Server(["--token", "s3cret-token"], tmp_path_factory.mktemp("serve"))
    yield server
    assert server.stop() == 0, server.stderr()


@pytest.fixture(scope="module")
def upload_files(fashion, tmp_path_factory) -> list[Path]:
    """Test-set PNGs (the fmnist path) and photographed garments (the photo path), on disk."""
    folder = tmp_path_factory.mktemp("uploads")
    rng = np.random.default_rng(3)
    paths = []
    for i in range(6):
        png = folder / f"test_{i}.png"
        cv2.imwrite(str(png), fashion.test.images[i])
        jpg = folder / f"photo_{i}.jpg"
        jpg.write_bytes(synthetic_photo(fashion.test.images[100 + i], "light", rng))
        paths += [png, jpg]
    return paths


# ---------------------------------------------------------------- the page and the API

def test_page_is_one_file_without_external_resources(live_server):
    server, _ = live_server
    status, headers, body = server.request("GET", "/")
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", page)
    for route in ("/stream.mjpg", "/api/events", "/api/classify", "/api/health"):
        assert route in page


def test_health_names_the_models_and_the_stream(live_server, video):
    server, _ = live_server
    status, health = server.json("/api/health")
    with Classifier() as clf:
        expected = {"model": {"name": clf.bundle.name, "sha256": clf.bundle.sha256},
                    "photo_model": {"name": clf.photo_bundle.name,
                                    "sha256": clf.photo_bundle.sha256}}
        backend = clf.backend
    assert status == 200 and health["status"] == "ok"
    assert {k: health[k] for k in expected} == expected and "garment_model" not in health
    assert health["runtime"]["backend"] == backend and health["runtime"]["version"]
    assert 0 < health["uptime_s"] < server.json("/api/health")[1]["uptime_s"]
    assert health["stream"]["source"] == str(video[0])
    assert health["stream"]["state"] == "running" and health["stream"]["frames"] > 0


def test_latest_follows_the_garments_of_the_video(live_server):
    server, classes = live_server
    names = {FASHION_MNIST_LABELS[c] for c in classes}
    seen: set[str] = set()

    def all_seen():
        status, record = server.json("/api/latest")
        assert status == 200 and LIVE_KEYS <= set(record), record
        seen.add(record["label"])
        return names <= seen

    wait_for(all_seen, timeout=30, what=f"every garment of the video ({sorted(names)}) seen")
    assert seen <= names | {None}


def test_events_carry_each_frame_and_the_stream_its_jpeg(live_server):
    server, _ = live_server
    events = read_events(server, 12)
    assert events[0][0] == "state" and events[0][1]["state"] == "running"
    live = [data for name, data in events if name == "live"]
    assert len(live) >= 10 and all(LIVE_KEYS <= set(r) for r in live)
    frames = [r["frame"] for r in live]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    assert all(len(r["top_k"]) == 3 for r in live if r["label"])
    for jpeg in read_parts(server, 5):
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (480, 640, 3)
        assert image[:30].mean() < image[100:].mean()  # the caption bar of the annotation


def test_uploads_get_exactly_the_records_of_fashion_classify(live_server, upload_files):
    server, _ = live_server
    with Classifier() as clf:
        expected = list(classify_files(clf, [InputItem(p) for p in upload_files]))
    for record in expected:
        record["path"] = Path(record["path"]).name
    status, records = upload(server, [(p.name, p.read_bytes()) for p in upload_files])
    assert status == 200 and records == expected
    status, single = upload(server, [(upload_files[1].name, upload_files[1].read_bytes())],
                            "?inputs=1")
    assert status == 200 and len(single) == 1
    png = single[0].pop("input_png")
    assert single == expected[1:2]
    assert png.startswith("data:image/png;base64,")


def _png(width: int, height: int, rows: bytes = b"") -> bytes:
    """A PNG whose header says width x height, with the given (compressed) rows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_bad_uploads_get_a_json_4xx_and_the_stream_goes_on(live_server, upload_files):
    server, _ = live_server
    good = upload_files[0].read_bytes()
    rng = np.random.default_rng(0)
    corpus = {
        "empty": [("empty.png", b"")],
        "truncated": [("cut.png", good[: len(good) // 2])],
        "text": [("notes.jpg", b"just some text, named like a photo\n" * 20)],
        "random": [("noise.png", rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())],
        "pixel bomb": [("bomb.png", _png(100_000, 100_000))],
        "too many files": [(f"f{i}.png", good) for i in range(17)],
    }
    before = server.json("/api/health")[1]["stream"]["frames"]
    for what, files in corpus.items():
        status, answer = upload(server, files)
        assert 400 <= status < 500 and isinstance(answer["error"], str), (what, status, answer)
    for what, (body, headers) in {
        "not multipart": (b"file=x", {"Content-Type": "application/x-www-form-urlencoded"}),
        "broken multipart": (b"--nope\r\n\r\n", {"Content-Type": "multipart/form-data; "
                                                                 "boundary=other"}),
        "no file": multipart([])}.items():
        status, _, answer = server.request("POST", "/api/classify", body, headers)
        assert 400 <= status < 500 and "error" in json.loads(answer), (what, status, answer)
    # 21 MiB, above the default 20 MiB limit: refused as it arrives.
    status, answer = upload(server, [("big.png", good + b"\0" * (21 * 1024 * 1024))])
    assert status == 413 and "limit" in answer["error"]
    # A body announced at 100 MB, refused before it is sent (Expect: 100-continue).
    assert raw_post(server.port, 100_000_000, expect=True)[0] == 413
    health = server.json("/api/health")[1]
    assert health["stream"]["state"] == "running"
    wait_for(lambda: server.json("/api/health")[1]["stream"]["frames"] > before + 10,
             what="the stream going on")
    assert upload(server, [("ok.png", good)])[0] == 200


def raw_post(port: int, length: int, expect: bool, headers: str = "") -> tuple[int, dict]:
    """POST headers announcing ``length`` bytes, without sending them; the server's answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall((f"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                      f"{length}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      + ("Expect: 100-continue\r\n" if expect else "") + headers
                      + "\r\n").encode())
        reply = sock.makefile("rb")
        status = int(reply.readline().split()[1])
        length_header = 0
        while (line := reply.readline().strip()):
            if line.lower().startswith(b"content-length:"):
                length_header = int(line.split(b":")[1])
        return status, json.loads(reply.read(length_header))


def test_clients_coming_and_going_change_nothing(live_server):
    server, _ = live_server

    def come_and_go(path: str) -> None:
        conn = server.connection()
        conn.request("GET", path)
        response = conn.getresponse()
        response.fp.read(20_000 if path.endswith("mjpg") else 500)
        conn.sock.shutdown(socket.SHUT_RDWR)  # leave abruptly, mid-stream
        conn.close()

    for _ in range(2):
        threads = [threading.Thread(target=come_and_go, args=(path,))
                   for path in ["/stream.mjpg"] * 10 + ["/api/events"] * 10]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
    wait_for(lambda: server.json("/api/health")[1]["stream"]["viewers"] == 0,
             what="every viewer gone")
    frames = server.json("/api/health")[1]["stream"]["frames"]
    wait_for(lambda: server.json("/api/health")[1]["stream"]["frames"] > frames + 10,
             what="the camera going on")
    assert len(read_parts(server, 2)) == 2
    assert "Traceback" not in server.stderr()


# ---------------------------------------------------------------- token, host, no source

def test_a_token_guards_every_route_but_health(upload_server, upload_files):
    server = upload_server
    status, answer = server.json("/")
    assert status == 401 and "token" in answer["error"]
    assert server.json("/api/latest", {"Authorization": "Bearer wrong"})[0] == 401
    assert server.json("/api/health")[0] == 200
    status, headers, _ = server.request("GET", "/?token=s3cret-token")
    assert status == 200 and "fashion_serve_token=s3cret-token" in headers["Set-Cookie"]
    assert "HttpOnly" in headers["Set-Cookie"]
    cookie = {"Cookie": "fashion_serve_token=s3cret-token"}
    status, answer = server.json("/api/latest", cookie)
    assert status == 404 and "no live source" in answer["error"]  # past the guard
    files = [(upload_files[0].name, upload_files[0].read_bytes())]
    assert upload(server, files)[0] == 401
    status, records = upload(server, files, headers={"Authorization": "Bearer s3cret-token"})
    assert status == 200 and records[0]["label"] in FASHION_MNIST_LABELS
    # Refused before the body is sent.
    assert raw_post(server.port, 10_000, expect=True)[0] == 401


def test_without_a_token_only_loopback_host_names_are_answered(live_server):
    server, _ = live_server
    status, answer = server.json("/api/latest", {"Host": "attacker.example:8080"})
    assert status == 403 and "Host" in answer["error"]
    assert server.json("/api/latest", {"Host": "localhost:8080"})[0] == 200
    assert server.json("/api/health", {"Host": "attacker.example"})[0] == 200


@pytest.mark.parametrize("host, required", [
    ("127.0.0.1", False), ("localhost", False), ("::1", False), ("127.0.1.1", False),
    ("0.0.0.0", True), ("::", True), ("192.168.1.20", True), ("pi.local", True)])
def test_a_token_is_generated_for_any_address_but_loopback(host, required):
    token, generated = resolve_token(host, None)
    assert generated == required and (token is not None) == required
    assert is_loopback(host) != required
    assert resolve_token(host, "given") == ("given", False)
    if token:
        assert len(token) >= 32 and token != resolve_token(host, None)[0]


def test_host_header_names():
    assert host_is_loopback_name("127.0.0.1:8080") and host_is_loopback_name("[::1]:80")
    assert host_is_loopback_name("localhost")
    assert not host_is_loopback_name("evil.example:8080") and not host_is_loopback_name(None)


# ---------------------------------------------------------------- start and stop

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_cleanly_with_clients_connected(video, tmp_path, sig):
    server = Server(["--video", str(video[0])], tmp_path)
    try:
        wait_for(lambda: server.json("/api/latest")[0] == 200, what="a first live record")
        conn = server.connection()
        conn.request("GET", "/stream.mjpg")
        conn.getresponse().fp.read(1000)
        start = time.monotonic()
        status = server.stop(sig)
        assert status == 0 and time.monotonic() - start < 5, server.stderr()
        assert "stopped" in server.stderr() and "Traceback" not in server.stderr()
        conn.close()
    finally:
        server.stop()


def test_start_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "missing.tflite")]) == 2
    assert "missing.tflite" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["--port", str(taken.getsockname()[1])]) == 2
    assert "cannot listen" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--roi", "1,2,3"])


def test_without_the_serve_extra_the_error_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "edge_runtime.apps.serve.server", None)
    assert main([]) == 2
    assert "pip install 'fashion-edge[serve]'" in capsys.readouterr().err


def test_the_server_is_its_own_extra_with_its_page_packaged():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    assert any(r.startswith("aiohttp") for r in extras["serve"])
    assert not any("aiohttp" in r for r in extras["edge"] + extras["legacy"])
    assert project["project"]["scripts"]["fashion-serve"] == "edge_runtime.apps.serve.cli:main"
    setuptools = project["tool"]["setuptools"]
    assert "edge_runtime.apps.serve" in setuptools["packages"]
    assert setuptools["package-data"]["edge_runtime.apps.serve"] == ["page.html"]
    assert (ROOT / "edge_runtime" / "apps" / "serve" / "page.html").is_file()


# ---------------------------------------------------------------- a real browser

def _chromium() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why the browser test cannot run."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e '.[dev]')"
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        return "Debian's chromium and chromium-driver not installed (apt-get install chromium " \
               "chromium-driver)"
    return browser, driver


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_in_chromium_shows_the_live_label_and_an_upload(live_server, upload_files,
                                                                 tmp_path):
    found = _chromium()
    if isinstance(found, str):
        pytest.skip(found)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, classes = live_server
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(found[1]))
    try:
        driver.get(f"http://127.0.0.1:{server.port}/")
        wait = WebDriverWait(driver, 30)
        names = {FASHION_MNIST_LABELS[c] for c in classes}
        wait.until(lambda d: d.find_element(By.ID, "live-label").text in names)
        wait.until(lambda d: d.execute_script(
            "const i = document.getElementById('stream'); return i.complete && i.naturalWidth"))
        chosen = [upload_files[1], upload_files[0]]  # a photo and a Fashion-MNIST-style PNG
        driver.find_element(By.ID, "files").send_keys("\n".join(map(str, chosen)))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".result .label")) == 2)
        with Classifier() as clf:
            expected = list(classify_files(clf, [InputItem(p) for p in chosen]))
        cards = driver.find_elements(By.CSS_SELECTOR, ".result")
        for card, photo, record in zip(cards, chosen, expected, strict=True):
            assert card.find_element(By.CSS_SELECTOR, ".name").text == photo.name
            assert card.find_element(By.CSS_SELECTOR, ".label").text == record["label"]
            seen = card.find_element(By.TAG_NAME, "img")
            assert seen.get_attribute("src").startswith("data:image/png;base64,")
            assert driver.execute_script("return arguments[0].naturalWidth", seen) > 0
        shot = cv2.imdecode(np.frombuffer(driver.get_screenshot_as_png(), np.uint8),
                            cv2.IMREAD_COLOR)
        assert shot.shape[1] == 1280 and shot.std() > 10
        if target := os.environ.get("FASHION_SERVE_SCREENSHOT"):  # the README's picture
            cv2.imwrite(target, shot, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    finally:
        driver.quit()
