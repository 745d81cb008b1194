"""``fashion-serve``: a web page and a JSON API for a device without a screen: the annotated
live view, the live label, photo uploads.

Exit status: 0 stopped by SIGINT/SIGTERM, 2 usage error (bad option, unusable model, no
interpreter, aiohttp missing, an address that cannot be listened on).
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

from edge_runtime.apps.options import (add_model_options, add_source_options, check_options,
                                      classifier_options, has_source, make_source)

EXIT_USAGE = 2
FILE_FPS = 30.0  # a video file is played at this rate unless --fps says otherwise
MIB = 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-serve``."""
    parser = argparse.ArgumentParser(
        prog="fashion-serve",
        description="Serve a web page and a JSON API on the device: the annotated live view "
        "(MJPEG), the live label with its top-k, and photo uploads. Listens on 127.0.0.1 "
        "unless --host says otherwise; on another address every route but /api/health "
        "needs a token.",
        epilog="API: GET /api/health, GET /api/latest, POST /api/classify (multipart, one or "
        "more images; the records of fashion-classify), GET /stream.mjpg, GET /api/events.",
    )
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; "
                        "0.0.0.0: every interface, with a token)")
    server.add_argument("--port", type=int, default=8080, help="default 8080; 0: any free port")
    server.add_argument("--token", help="require this token (default: none on loopback, "
                        "generated and printed at start on any other address)")
    server.add_argument("--workers", type=int, default=1, metavar="N",
                        help="upload worker threads, decoding and preparing photos in parallel; "
                        "all of them and the live loop share one interpreter per model (default 1)")
    server.add_argument("--max-upload-mb", type=float, default=20.0, metavar="MB",
                        help="largest request body, in MiB (default 20)")
    server.add_argument("--max-files", type=int, default=16, metavar="N",
                        help="most images in one request (default 16)")
    server.add_argument("--max-pixels", type=int, default=24_000_000, metavar="N",
                        help="largest image, in pixels by its header (default 24,000,000)")
    add_source_options(
        parser, "live source (optional: without one, uploads only)",
        video_help="a network stream, or a video file (played at --fps, repeated)",
        fps_help=f"requested camera frame rate; a video file's rate (default {FILE_FPS:g})",
        give_up_after=math.inf, give_up_help="stop retrying a failed camera after S seconds "
        "(default: never; uploads go on either way)")
    add_model_options(parser, "for uploads: fmnist, photo, or auto (decide per image, "
                      "default); live frames always take the photo path")
    return parser


def source_factory(args: argparse.Namespace):
    """A function making the live source from the stop event (its waits end on a stop), or
    None without a source."""
    from edge_runtime.apps.serve.stream import RepeatingVideo

    if not has_source(args):
        return None
    return lambda stop: make_source(
        args, stop.wait, "fashion-serve",
        wrap_file=lambda video: RepeatingVideo(video, args.fps or FILE_FPS, stop.wait))


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-serve`` until SIGINT/SIGTERM; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_options(parser, args)
    options = classifier_options(parser, args)
    if args.workers < 1 or args.max_files < 1 or args.max_pixels < 1:
        parser.error("--workers, --max-files and --max-pixels must be >= 1")
    if not 0 <= args.port <= 65535 or args.max_upload_mb <= 0:
        parser.error("--port must be within 0..65535, --max-upload-mb > 0")
    if args.token is not None and not args.token.strip():
        parser.error("--token is empty")
    try:
        from edge_runtime.apps.serve.server import ServeSettings, describe_models, run_server
    except ImportError as exc:
        print(f"fashion-serve: error: {exc}; install the server with: "
              "pip install 'fashion-edge[serve]'", file=sys.stderr)
        return EXIT_USAGE
    from edge_runtime.apps.live import LiveOptions
    from edge_runtime.apps.serve.security import UploadLimits
    from edge_runtime.classifier import MODEL_ERRORS
    from edge_runtime.interpreter.model_thread import ModelThread

    models = ModelThread()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            described = describe_models(options, models)
    except MODEL_ERRORS as exc:
        models.close()
        print(f"fashion-serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for warning in caught:
        print(f"fashion-serve: warning: {warning.message}", file=sys.stderr)
    settings = ServeSettings(
        host=args.host, port=args.port, token=args.token, classifier=options,
        live=LiveOptions(roi=args.roi, smooth=args.smooth, emit="change",
                         background_frames=args.background, prog="fashion-serve"),
        limits=UploadLimits(int(args.max_upload_mb * MIB), args.max_files, args.max_pixels),
        workers=args.workers)
    try:
        return run_server(settings, models, described, source_factory(args))
    finally:
        models.close()
