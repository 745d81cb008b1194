"""Measure fashion-serve against its targets and print the figures (not a test: timings on a
shared machine move from run to run).

    .venv/bin/python scripts/bench_serve.py [--photos ../shared/real-photos] [--uploads 500]

A 640x480 video made from the photos is the live source (played at 30 frames/s, repeated).
Measured, with the server in its own process on loopback:
  * stream: frames/s delivered to a connected MJPEG client; delay from a frame's capture to
    its label reaching an event-stream client;
  * uploads: N uploads of the photos from C concurrent clients while the stream is watched:
    all answered, records equal to fashion-classify's on the same files, p50/p99 latency;
  * a bad-upload corpus (empty, truncated, text, random bytes, pixel bomb, 100 MB body with
    and without Expect: 100-continue, wrong token): each a 4xx with a JSON error, the server
    and the stream going on;
  * the server's peak RSS (VmHWM) and its stop on SIGTERM.
Needs no TensorFlow: the serve extra (aiohttp) and the device runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from edge_runtime.media import image_io, imaging, video  # noqa: E402 (after the path insert)

TOKEN = "bench-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TARGETS = {"fps": 25.0, "label_delay_s": 0.5, "peak_rss_mib": 120.0}


def make_video(photos: list[Path], path: Path, seconds_each: float = 1.0, fps: float = 30) -> None:
    """A 640x480 MJPG video: each photo letterboxed on grey, held ``seconds_each``."""
    writer = video.open_writer(str(path), 640, 480, fps)
    for photo in photos:
        pixels = image_io.read_image(photo).pixels
        pixels = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
        scale = min(640 / pixels.shape[1], 480 / pixels.shape[0])
        small = imaging.resize(pixels, int(pixels.shape[1] * scale), int(pixels.shape[0] * scale))
        frame = np.full((480, 640, 3), 200, np.uint8)
        top, left = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
        frame[top : top + small.shape[0], left : left + small.shape[1]] = small
        for _ in range(int(seconds_each * fps)):
            writer.write(frame)
    writer.release()


def start_server(python: str, video: Path, log: Path) -> tuple[subprocess.Popen, int]:
    """The server in its own process; its port, read from the line it prints at start."""
    with open(log, "w") as err:
        process = subprocess.Popen([python, "-m", "edge_runtime.apps.serve", "--video", str(video),
                                    "--port", "0", "--token", TOKEN], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 60
    while not (found := re.search(r"serving http://[^:]+:(\d+)/", log.read_text())):
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"bench_serve: the server did not start: {log.read_text()}")
        time.sleep(0.05)
    return process, int(found.group(1))


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ---------------------------------------------------------------- stream

async def watch_stream(session: aiohttp.ClientSession, base: str, stop: asyncio.Event) -> dict:
    """Count the MJPEG frames delivered until ``stop``."""
    frames, size, start = 0, 0, time.monotonic()
    async with session.get(base + "/stream.mjpg", headers=AUTH) as response:
        while not stop.is_set():
            line = await response.content.readline()
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
                await response.content.readline()
                await response.content.readexactly(length)
                frames, size = frames + 1, size + length
    elapsed = time.monotonic() - start
    return {"frames": frames, "seconds": elapsed, "fps": frames / elapsed,
            "jpeg_kib": size / max(frames, 1) / 1024}


async def watch_labels(session: aiohttp.ClientSession, base: str, stop: asyncio.Event) -> dict:
    """Delay from each frame's capture (its record's time less its processing) to its record
    reaching this client, until ``stop``."""
    delays = []
    async with session.get(base + "/api/events", headers=AUTH) as response:
        while not stop.is_set():
            line = await response.content.readline()
            if line.startswith(b"data: ") and b'"frame"' in line:
                record = json.loads(line[6:])
                delays.append(time.time() - (record["time"] - record["latency_ms"] / 1000))
    return {"events": len(delays), "p50_s": percentile(delays, 50),
            "p99_s": percentile(delays, 99), "max_s": max(delays, default=float("nan"))}


# ---------------------------------------------------------------- uploads

async def upload_all(session: aiohttp.ClientSession, base: str, photos: list[Path], n: int,
                     clients: int) -> dict:
    """``n`` single-photo uploads from ``clients`` concurrent clients."""
    queue: asyncio.Queue[Path] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(photos[i % len(photos)])
    latencies, statuses, records = [], [], {}

    async def client() -> None:
        while not queue.empty():
            photo = queue.get_nowait()
            form = aiohttp.FormData()
            form.add_field("file", photo.read_bytes(), filename=photo.name)
            start = time.perf_counter()
            async with session.post(base + "/api/classify", data=form, headers=AUTH) as response:
                body = await response.json()
            latencies.append(time.perf_counter() - start)
            statuses.append(response.status)
            if response.status == 200:
                records.setdefault(photo.name, []).append(body[0])

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - start
    return {"answered": len(statuses), "ok": statuses.count(200), "records": records,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "max_ms": max(latencies) * 1000, "per_s": len(statuses) / wall}


def fashion_classify(python: str, photos: list[Path]) -> dict[str, dict]:
    """fashion-classify's records of the photos, by file name."""
    out = subprocess.run([python, "-m", "edge_runtime", *map(str, photos)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    records = [json.loads(line) for line in out.splitlines()]
    return {Path(r["path"]).name: {**r, "path": Path(r["path"]).name} for r in records}


# ---------------------------------------------------------------- bad uploads

def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small PNG whose header claims width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 100_000)) + chunk(b"IEND", b""))


def big_body(port: int, size: int, expect: bool) -> tuple[int, dict, int]:
    """POST a ``size``-byte body (Expect: 100-continue or not), sending it until the server
    answers; (status, JSON answer, bytes of the body sent)."""
    boundary = "bench"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.png\"\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall((f"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: Bearer {TOKEN}\r\nContent-Length: {size}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                      + ("Expect: 100-continue\r\n" if expect else "") + "\r\n").encode())
        sent, chunk = 0, head + b"\0" * (1024 * 1024 - len(head))
        while sent < size and not select.select([sock], [], [], 0 if sent or not expect
                                                 else 1.0)[0]:
            piece = chunk[: size - sent]
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            chunk = b"\0" * len(chunk)
        reply = sock.makefile("rb")
        status = int(reply.readline().split()[1])
        length = 0
        while (line := reply.readline().strip()):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return status, json.loads(reply.read(length)), sent


async def bad_uploads(session: aiohttp.ClientSession, base: str, port: int, good: bytes) -> list:
    """(what, status, error, server alive) for each bad upload."""
    rng = np.random.default_rng(0)
    corpus = {"empty file": b"", "truncated JPEG": good[: len(good) // 2],
              "text named .jpg": b"not a photo at all\n" * 50,
              "random bytes": rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
              "pixel bomb (100000x100000 PNG)": png_bomb()}
    results = []
    for what, data in corpus.items():
        form = aiohttp.FormData()
        form.add_field("file", data, filename="upload.jpg")
        async with session.post(base + "/api/classify", data=form, headers=AUTH) as response:
            results.append((what, response.status, (await response.json())["error"]))
    for expect in (True, False):
        status, answer, sent = await asyncio.to_thread(big_body, port, 100_000_000, expect)
        what = (f"100 MB body ({'with' if expect else 'without'} Expect: 100-continue; "
                f"{sent / 1e6:.0f} MB sent before the answer)")
        results.append((what, status, answer["error"]))
    form = aiohttp.FormData()
    form.add_field("file", good, filename="good.jpg")
    async with session.post(base + "/api/classify", data=form,
                            headers={"Authorization": "Bearer wrong"}) as response:
        results.append(("wrong token", response.status, (await response.json())["error"]))
    return results


# ---------------------------------------------------------------- the run

async def measure(args, port: int, photos: list[Path]) -> dict:
    base = f"http://127.0.0.1:{port}"
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:  # the first live record
            async with session.get(base + "/api/latest", headers=AUTH) as response:
                if response.status == 200:
                    break
            await asyncio.sleep(0.1)
        stop = asyncio.Event()
        stream = asyncio.create_task(watch_stream(session, base, stop))
        labels = asyncio.create_task(watch_labels(session, base, stop))
        await asyncio.sleep(args.stream_seconds)
        stop.set()
        figures = {"stream": await stream, "labels": await labels}
        # Uploads while the stream is watched.
        stop = asyncio.Event()
        stream = asyncio.create_task(watch_stream(session, base, stop))
        figures["uploads"] = await upload_all(session, base, photos, args.uploads, args.clients)
        stop.set()
        figures["stream_during_uploads"] = await stream
        async with session.get(base + "/api/health") as response:
            before = (await response.json())["stream"]["frames"]
        figures["bad"] = await bad_uploads(session, base, port, photos[0].read_bytes())
        await asyncio.sleep(1.0)
        async with session.get(base + "/api/health") as response:
            health = await response.json()
        figures["after_bad"] = {"state": health["stream"]["state"],
                                "frames_since": health["stream"]["frames"] - before}
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "real-photos")
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--stream-seconds", type=float, default=10.0)
    parser.add_argument("--python", default=sys.executable,
                        help="the Python that runs the server and fashion-classify")
    args = parser.parse_args(argv)
    photos = sorted(args.photos.rglob("*.jpg"))
    if not photos:
        parser.error(f"{args.photos}: no .jpg photos")
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "live.avi"
        make_video(photos[:: max(1, len(photos) // 10)][:10], video)
        process, port = start_server(args.python, video, Path(tmp) / "server.log")
        try:
            figures = asyncio.run(measure(args, port, photos))
            peak = peak_rss_mib(process.pid)
            alive = process.poll() is None
            start = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            stop_s = time.monotonic() - start
            log = (Path(tmp) / "server.log").read_text()
        finally:
            if process.poll() is None:
                process.kill()
    expected = fashion_classify(args.python, photos)
    report(args, figures, expected, peak, alive, code, stop_s, log)
    return 0


def report(args, f: dict, expected: dict, peak: float, alive: bool, code: int, stop_s: float,
           log: str) -> None:
    """Print the figures and the checks against the targets."""
    s, lab, up, during = f["stream"], f["labels"], f["uploads"], f["stream_during_uploads"]
    print(f"fashion-serve benchmark, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"aiohttp {aiohttp.__version__}, {os.cpu_count()} cores")
    print(f"stream (640x480 video at 30 frames/s, {args.stream_seconds:g} s): "
          f"{s['fps']:.1f} frames/s delivered to the MJPEG client ({s['frames']} frames, "
          f"{s['jpeg_kib']:.0f} KiB each)")
    print(f"label delay, frame capture to event at the client ({lab['events']} events): "
          f"p50 {lab['p50_s'] * 1000:.0f} ms, p99 {lab['p99_s'] * 1000:.0f} ms, "
          f"max {lab['max_s'] * 1000:.0f} ms")
    mismatches = [name for name, got in up["records"].items()
                  if any(record != expected[name] for record in got)]
    label_mismatches = [name for name, got in up["records"].items()
                        if any(record["label"] != expected[name]["label"] for record in got)]
    print(f"uploads: {up['answered']} of {args.uploads} answered ({up['ok']} with 200) from "
          f"{args.clients} concurrent clients, {up['per_s']:.0f}/s; latency p50 "
          f"{up['p50_ms']:.1f} ms, p99 {up['p99_ms']:.1f} ms, max {up['max_ms']:.1f} ms")
    print(f"  records equal to fashion-classify's: {len(up['records']) - len(mismatches)} of "
          f"{len(up['records'])} files (labels differ on {len(label_mismatches)})")
    print(f"  stream meanwhile: {during['fps']:.1f} frames/s delivered")
    print("bad uploads:")
    for what, status, error in f["bad"]:
        print(f"  {status} {what}: {error}")
    print(f"  after them: stream {f['after_bad']['state']}, {f['after_bad']['frames_since']} "
          "frames since")
    print(f"server peak RSS (VmHWM): {peak:.1f} MiB; alive at the end: {alive}; SIGTERM: exit "
          f"{code} in {stop_s:.2f} s")
    checks = [
        (s["fps"] >= TARGETS["fps"], f"stream {s['fps']:.1f} frames/s (target >= 25)"),
        (lab["p99_s"] <= TARGETS["label_delay_s"],
         f"label p99 {lab['p99_s'] * 1000:.0f} ms after its frame (target <= 500)"),
        (up["answered"] == args.uploads and up["ok"] == args.uploads,
         f"{up['ok']} of {args.uploads} uploads answered 200"),
        (not label_mismatches and not mismatches,
         "every upload's record equal to fashion-classify's"),
        (all(400 <= status < 500 for _, status, _ in f["bad"]),
         "every bad upload a 4xx with a JSON error"),
        (alive and f["after_bad"]["state"] == "running" and f["after_bad"]["frames_since"] > 0,
         "server and stream went on"),
        (peak <= TARGETS["peak_rss_mib"], f"peak RSS {peak:.1f} MiB (target <= 120)"),
        (code == 0 and "Traceback" not in log, "SIGTERM: clean exit 0"),
    ]
    for ok, text in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")


if __name__ == "__main__":
    sys.exit(main())
