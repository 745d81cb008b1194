"""The routes of ``fashion-serve`` (aiohttp): the page, the live stream (MJPEG), the live
labels (server-sent events) and the JSON API.

Every error is JSON, ``{"error": "..."}`` with a 4xx status for what the client sent; nothing a
client sends stops the server or the stream.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from importlib import resources
from pathlib import PurePosixPath

from aiohttp import web
from aiohttp.multipart import MultipartReader

from edge_runtime.apps.serve.security import (
    TOKEN_COOKIE,
    UploadLimits,
    UploadRefused,
    bearer,
    host_is_loopback_name,
    token_matches,
)
from edge_runtime.apps.serve.stream import FrameHub
from edge_runtime.apps.serve.uploads import OK, UploadClassifier

BOUNDARY = "fashion-serve-frame"
KEEPALIVE_S = 15.0  # an idle event stream sends a comment this often, so dead clients are noticed
CHUNK = 64 * 1024
HUB = web.AppKey("hub", FrameHub)
UPLOADS = web.AppKey("uploads", UploadClassifier)
SETTINGS = web.AppKey("settings", dict)  # token, models (for /api/health), start time
SLOTS = web.AppKey("slots", asyncio.Semaphore)  # requests whose bodies may be read at once


def json_error(status: int, message: str, **extra) -> web.Response:
    """A JSON error response."""
    return web.json_response({"error": message, **extra}, status=status)


def refusal(request: web.Request) -> web.Response | None:
    """The response that refuses a request for lack of the token (401), or, on a server
    without a token, for a Host header that is not a loopback name (403); None to go on. The
    health check is open to all."""
    if request.path == "/api/health":
        return None
    token = request.app[SETTINGS]["token"]
    if token is None:
        if not host_is_loopback_name(request.host):
            return json_error(403, f"Host {request.host!r} refused: without a token this server "
                                   "answers only requests to localhost or a loopback address")
        return None
    given = (bearer(request.headers.get("Authorization")) or request.query.get("token")
             or request.cookies.get(TOKEN_COOKIE))
    if not token_matches(token, given):
        return json_error(401, "missing or wrong token: open the URL fashion-serve printed at "
                               "start (ending ?token=...), or send 'Authorization: Bearer TOKEN'")
    return None


@web.middleware
async def guard(request: web.Request, handler):
    """Apply :func:`refusal`, and turn aiohttp's own errors (404, 405, ...) and any failure of
    a route into JSON."""
    refused = refusal(request)
    if refused is not None:
        return refused
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, f"{exc.reason}: {request.method} {request.path}")
    except Exception as exc:  # noqa: BLE001 - a bug in one route must not look like HTML
        detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        print(f"fashion-serve: error: {request.method} {request.path}: {detail}",
              file=sys.stderr, flush=True)
        return json_error(500, f"internal error ({detail})")


async def expect_continue(request: web.Request) -> web.Response | None:
    """``Expect: 100-continue``: refuse a request without the token, or one whose body is too
    large, before the client sends the body."""
    refused = refusal(request)
    limits = request.app[UPLOADS].limits
    if refused is None and (request.content_length or 0) > limits.max_bytes:
        refused = json_error(413, too_large(limits))
    if refused is not None:
        return refused
    if request.headers.get("Expect", "").lower() != "100-continue":
        return json_error(417, f"unknown Expect: {request.headers.get('Expect')}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the 100 response is not part of the answer's body
    return None


def too_large(limits: UploadLimits) -> str:
    """Why a request body above the limit is refused (413)."""
    return f"request body above this server's {limits.max_bytes:,}-byte limit (--max-upload-mb)"


# ---------------------------------------------------------------- page and live views

async def page(request: web.Request) -> web.Response:
    """The page (one file, no external resources). Opened with ``?token=``, it also sets the
    token as a cookie, so the page's own requests carry it."""
    html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    response = web.Response(text=html, content_type="text/html",
                            headers={"Cache-Control": "no-store"})
    token = request.app[SETTINGS]["token"]
    if token is not None and request.query.get("token"):
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
    return response


def no_source(hub: FrameHub) -> web.Response | None:
    """The 404 of a live route on a server started without a live source; None to go on."""
    if hub.source is not None:
        return None
    return json_error(404, "no live source: this server was started without --camera, "
                           "--picamera or --video (uploads only)")


async def mjpeg(request: web.Request) -> web.StreamResponse:
    """The annotated live frames as an MJPEG stream (multipart/x-mixed-replace)."""
    hub = request.app[HUB]
    if (missing := no_source(hub)) is not None:
        return missing
    response = web.StreamResponse(headers={
        "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    hub.viewers += 1
    seq = -1
    try:
        while not hub.closed and hub.state not in ("stopped", "failed"):
            await hub.wait_change(seq, hub.state, KEEPALIVE_S)
            if hub.seq == seq:  # a change of state, or a quiet camera
                continue
            seq = hub.seq
            if hub.jpeg is None:  # published before this viewer counted: wait for the next
                continue
            await response.write(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                 % (BOUNDARY.encode(), len(hub.jpeg)) + hub.jpeg + b"\r\n")
    except ConnectionResetError:
        pass  # the client left
    finally:
        hub.viewers -= 1
    return response


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``live`` (each frame's record with its top-k) and ``state`` (the
    live source's state, at the start and on every change)."""
    hub = request.app[HUB]
    if (missing := no_source(hub)) is not None:
        return missing
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    seq, state = -1, None
    try:
        while not hub.closed:
            if state != hub.state:
                state = hub.state
                await response.write(_event("state", {"state": state, "error": hub.error}))
            if seq != hub.seq:
                seq = hub.seq
                if hub.record is not None:  # None only before the first frame
                    await response.write(_event("live", hub.record))
            before = (hub.seq, hub.state)
            await hub.wait_change(seq, state, KEEPALIVE_S)
            if (hub.seq, hub.state) == before and not hub.closed:
                await response.write(b": keepalive\n\n")
    except ConnectionResetError:
        pass  # the client left
    return response


async def latest(request: web.Request) -> web.Response:
    """The latest live record (with its top-k); 503 before the first frame."""
    hub = request.app[HUB]
    if (missing := no_source(hub)) is not None:
        return missing
    if hub.record is None:
        return json_error(503, f"no frame classified yet (live source {hub.state})",
                          state=hub.state, source_error=hub.error)
    return web.json_response(hub.record)


async def health(request: web.Request) -> web.Response:
    """Models, runtime, uptime and the live source's state; open without the token."""
    settings = request.app[SETTINGS]
    return web.json_response({
        "status": "ok", **settings["models"],
        "uptime_s": round(time.monotonic() - settings["started"], 3),
        "stream": request.app[HUB].status(),
        "limits": {"max_bytes": request.app[UPLOADS].limits.max_bytes,
                   "max_files": request.app[UPLOADS].limits.max_files,
                   "max_pixels": request.app[UPLOADS].limits.max_pixels}})


# ---------------------------------------------------------------- uploads

def upload_name(filename: str, index: int) -> str:
    """The record's ``path``: the uploaded file's own name, without any folders."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    return name[:255] or f"upload-{index}"


async def read_files(request: web.Request, limits: UploadLimits) -> list[tuple[str, bytes]]:
    """The files of a multipart/form-data body, each (name, bytes), within the limits;
    UploadRefused otherwise. Fields that are not files are read and ignored."""
    if (request.content_length or 0) > limits.max_bytes:
        raise UploadRefused(413, too_large(limits))
    if request.content_type != "multipart/form-data":
        raise UploadRefused(415, f"Content-Type {request.content_type!r}: send the images as "
                                 "multipart/form-data (curl -F file=@photo.jpg)")
    files: list[tuple[str, bytes]] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, MultipartReader):
                raise UploadRefused(400, "nested multipart bodies are not accepted")
            chunks = []
            while chunk := await part.read_chunk(CHUNK):
                if request.content.total_bytes > limits.max_bytes:
                    raise UploadRefused(413, too_large(limits))
                if part.filename is not None:
                    chunks.append(chunk)
            if part.filename is None:
                continue
            files.append((upload_name(part.filename, len(files)), b"".join(chunks)))
            if len(files) > limits.max_files:
                raise UploadRefused(413, f"more than this server's {limits.max_files} files in "
                                         "one request (--max-files)")
    except (ValueError, AssertionError, RuntimeError) as exc:
        if isinstance(exc, UploadRefused):
            raise
        raise UploadRefused(400, f"malformed multipart body ({' '.join(str(exc).split())})") \
            from None
    if not files:
        raise UploadRefused(400, "no file in the request: send each image as a file field "
                                 "(curl -F file=@photo.jpg)")
    return files


async def classify(request: web.Request) -> web.Response:
    """``POST /api/classify``: one record per uploaded image, exactly ``fashion-classify``'s
    (path: the file's name). 200 when at least one file was classified (the others carry
    ``error``, as in ``fashion-classify``); when none was, the first failure's 4xx with
    ``error`` and the records. ``?inputs=1`` adds ``input_png``, the input the model saw."""
    uploads = request.app[UPLOADS]
    # Bodies are held in memory: only so many requests are read at once, the others wait
    # (and their clients with them) for a slot.
    async with request.app[SLOTS]:
        try:
            files = await read_files(request, uploads.limits)
        except UploadRefused as exc:
            return json_error(exc.status, str(exc))
        with_input = request.query.get("inputs") not in (None, "", "0")
        results = await uploads.classify_all(files, with_input)
    records = [record for _, record in results]
    if any(status == OK for status, _ in results):
        return web.json_response(records)
    status, first = results[0]
    return json_error(status, first["error"], records=records)


def make_app(hub: FrameHub, uploads: UploadClassifier, token: str | None, models: dict,
             started: float) -> web.Application:
    """The application: routes, the token/Host guard, and the upload size cap."""
    app = web.Application(middlewares=[guard], client_max_size=uploads.limits.max_bytes)
    app[HUB], app[UPLOADS] = hub, uploads
    app[SLOTS] = asyncio.Semaphore(2 * uploads.workers)
    app[SETTINGS] = {"token": token, "models": models, "started": started}
    app.router.add_get("/", page)
    app.router.add_get("/stream.mjpg", mjpeg)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/latest", latest)
    app.router.add_get("/api/health", health)
    app.router.add_post("/api/classify", classify, expect_handler=expect_continue)
    return app
