"""Running ``fashion-serve``: the listening socket, the event loop with the routes, the camera's
thread and the upload workers, and their orderly stop on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import importlib.metadata
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from aiohttp import web

from edge_runtime.apps.interrupts import stop_on_signals
from edge_runtime.apps.live import LiveOptions
from edge_runtime.apps.serve.app import make_app
from edge_runtime.apps.serve.security import UploadLimits, resolve_token
from edge_runtime.apps.serve.stream import FrameHub, LiveWorker
from edge_runtime.apps.serve.uploads import UploadClassifier
from edge_runtime.classifier import Classifier, ClassifierOptions
from edge_runtime.interpreter.model_thread import ModelThread
from edge_runtime.media.sources import FrameSource

SHUTDOWN_TIMEOUT_S = 3.0  # uploads under way get this long to finish once a stop is asked for
LIVE_STOP_TIMEOUT_S = 5.0
_RUNTIME_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu")}


@dataclass
class ServeSettings:
    """What ``fashion-serve`` was asked for (see its ``--help``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    classifier: ClassifierOptions = field(default_factory=ClassifierOptions)
    live: LiveOptions = field(default_factory=LiveOptions)
    limits: UploadLimits = field(default_factory=UploadLimits)
    workers: int = 1  # upload threads; they share the live loop's interpreters


def runtime_version(backend: str) -> str | None:
    """The installed version of an interpreter backend's package, or None."""
    for distribution in _RUNTIME_DISTRIBUTIONS.get(backend, (backend,)):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def describe_models(options: ClassifierOptions, models: ModelThread) -> dict:
    """The models and runtime for ``/api/health``, read from a classifier made here on the
    server's model thread (which also proves that the models load before the server starts).
    Raises what :class:`Classifier` raises for a model it cannot use."""
    with Classifier.from_options(options, models.load_model) as classifier:
        # The photo model's interpreter opens on the first photo: prepare a blank one now, so
        # a photo model that this runtime cannot load stops the start, not the first upload.
        classifier.prepare(np.zeros((64, 64, 3), np.uint8), mode="photo")
        return {"model": {"name": classifier.bundle.name, "sha256": classifier.bundle.sha256},
                "photo_model": {"name": classifier.photo_bundle.name,
                                "sha256": classifier.photo_bundle.sha256},
                "runtime": {"backend": classifier.backend,
                            "version": runtime_version(classifier.backend)}}


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one) and listening; OSError when it
    cannot be (address in use, no such address)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def page_url(host: str, sock: socket.socket, token: str | None) -> str:
    """The address to open: a wildcard host is shown as this machine's name."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    return url + (f"?token={token}" if token else "")


def say(line: str) -> None:
    """One line on stderr."""
    print(f"fashion-serve: {line}", file=sys.stderr, flush=True)


async def serve(settings: ServeSettings, sock: socket.socket, token: str | None,
                models: ModelThread, described: dict,
                make_source: Callable[[threading.Event], FrameSource] | None,
                stop: threading.Event) -> None:
    """Serve on ``sock`` until ``stop`` is set, then stop the camera, the streams, the
    connections and the upload workers, in that order. Every classifier takes its
    interpreters from ``models``: one per model, whatever the number of threads."""
    loop = asyncio.get_running_loop()
    source = make_source(stop) if make_source else None
    hub = FrameHub(loop, source.name if source else None)
    uploads = UploadClassifier(settings.classifier, settings.limits, settings.workers,
                               models.load_model)
    app = make_app(hub, uploads, token, described, time.monotonic())
    # No access log (a Pi's SD card), no decompression of request bodies (the size cap
    # counts the bytes as sent).
    runner = web.AppRunner(app, handle_signals=False, access_log=None, auto_decompress=False,
                           shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    worker = None
    try:
        await web.SockSite(runner, sock).start()
        if source is not None:
            worker = LiveWorker(source, settings.classifier, settings.live, hub, stop,
                                models.load_model)
            worker.start()
        say(f"serving {page_url(settings.host, sock, token)}  (live: "
            f"{source.name if source else 'none, uploads only'}; Ctrl-C stops)")
        await loop.run_in_executor(None, stop.wait)
    finally:
        stop.set()
        hub.close()
        if worker is not None:
            await loop.run_in_executor(None, worker.join, LIVE_STOP_TIMEOUT_S)
            if worker.thread.is_alive():  # stuck in a driver or a stalled stream
                say(f"the live source did not stop within {LIVE_STOP_TIMEOUT_S:g} s; "
                    "leaving it behind")
        await runner.cleanup()
        await loop.run_in_executor(None, uploads.close)
        say("stopped")


def run_server(settings: ServeSettings, models: ModelThread, described: dict,
               make_source: Callable[[threading.Event], FrameSource] | None) -> int:
    """Listen, serve until SIGINT/SIGTERM (a second one exits at once), stop cleanly; returns
    the exit status (0, or 2 when the address cannot be used)."""
    try:
        sock = listen(settings.host, settings.port)
    except OSError as exc:
        say(f"error: cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc})")
        return 2
    token, generated = resolve_token(settings.host, settings.token)
    if generated:
        say(f"{settings.host} is reachable from other machines: every route but "
            "/api/health needs this token (printed once, in the URL below)")
    with stop_on_signals("fashion-serve") as stop:
        asyncio.run(serve(settings, sock, token, models, described, make_source, stop))
    return 0
