"""Command-line options that ``fashion-classify`` and ``fashion-serve`` share: the models, the
live source and the live loop; their checks, and the classifier options and source they make."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from edge_runtime.interpreter.backend import BACKENDS
from edge_runtime.photo.preprocess import MODES


def add_model_options(parser: argparse.ArgumentParser, preprocess_help: str,
                      backends: tuple[str, ...] = BACKENDS) -> None:
    """``--model --photo-model --backend --threads --top-k --threshold --preprocess``;
    ``--backend`` offers ``backends``."""
    parser.add_argument("--model", type=Path,
                        help="a .tflite model; its NAME.json manifest is read when present "
                        "(default: the shipped int8 MLP)")
    parser.add_argument("--photo-model", type=Path,
                        help="model for inputs prepared by the photo path (default: --model, or "
                        "the shipped photo model when --model is not given)")
    parser.add_argument("--backend", default="auto", choices=["auto", *backends],
                        help="interpreter (default: ai-edge-litert, then tflite-runtime, "
                        "then tensorflow)")
    parser.add_argument("--threads", type=int, default=None,
                        help="interpreter threads (default: the CPUs up to 4 on ai-edge-litert, "
                        "1 on tflite-runtime)")
    parser.add_argument("--top-k", type=int, default=3, metavar="K")
    parser.add_argument("--threshold", type=float, default=0.0, metavar="T",
                        help="give no label (label null, with a reason) when the top score is "
                        "below T")
    parser.add_argument("--preprocess", default="auto", choices=MODES, help=preprocess_help)


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """``--all-files --strict --verbose``: what a batch of files reports beyond its images."""
    parser.add_argument("--all-files", action="store_true",
                        help="also write a record for each file that is not an image "
                        '({"path", "skipped": "not an image"}); they are counted on the summary '
                        "line either way")
    parser.add_argument("--strict", action="store_true",
                        help="count files that are not images as failures (exit status 1)")
    parser.add_argument("--verbose", action="store_true",
                        help="let the decoders' and the interpreter's own messages through to "
                        "stderr (otherwise a file's go into its record as a warning or error)")


def add_source_options(parser: argparse.ArgumentParser, title: str, video_help: str,
                       fps_help: str, give_up_after: float, give_up_help: str):
    """The live source (``--camera | --picamera | --video``, size, rate, retrying) and the live
    loop (``--roi --smooth --background``); returns the group, for a command's own additions."""
    source = parser.add_argument_group(title)
    exclusive = source.add_mutually_exclusive_group()
    exclusive.add_argument("--camera", type=int, metavar="N", help="USB webcam N (OpenCV/V4L2)")
    exclusive.add_argument("--picamera", action="store_true",
                           help="the Raspberry Pi CSI camera (picamera2)")
    exclusive.add_argument("--video", metavar="PATH|URL", help=video_help)
    source.add_argument("--width", type=int, default=640)
    source.add_argument("--height", type=int, default=480)
    source.add_argument("--fps", type=float, help=fps_help)
    source.add_argument("--roi", metavar="x,y,w,h",
                        help="region to classify, in pixels (default: a centred square)")
    source.add_argument("--smooth", type=int, default=5, metavar="N",
                        help="average probabilities over the last N frames (default 5)")
    source.add_argument("--background", type=int, nargs="?", const=15, default=0, metavar="K",
                        help="static camera: learn the empty scene from the first K frames "
                        "(default 15) and segment the garment against it")
    source.add_argument("--give-up-after", type=float, default=give_up_after, metavar="S",
                        help=give_up_help)
    return source


def has_source(args: argparse.Namespace) -> bool:
    """Whether a live source was asked for."""
    return args.camera is not None or args.picamera or args.video is not None


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The checks of the source and live options that argparse cannot make; parses ``--roi``
    into a tuple. Exits 2 on a bad one."""
    if args.smooth < 1:
        parser.error("--smooth must be >= 1")
    if args.fps is not None and args.fps <= 0:
        parser.error("--fps must be > 0")
    if args.roi:
        from edge_runtime.apps.live import parse_roi

        try:
            args.roi = parse_roi(args.roi)
        except ValueError as exc:
            parser.error(str(exc))


def classifier_options(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """The :class:`~edge_runtime.classifier.ClassifierOptions` the model options ask for; exits
    2 with the options' own message when a value is out of range."""
    from edge_runtime.classifier import ClassifierOptions

    try:
        return ClassifierOptions(args.model, args.photo_model, args.backend, args.threads,
                                 args.top_k, args.threshold, args.preprocess)
    except ValueError as exc:
        parser.error(str(exc))


def make_source(args: argparse.Namespace, wait: Callable[[float], object], prog: str,
                wrap_file=None):
    """The live source the options ask for, reopened with backoff whose waits are ``wait``
    (a stop event's, so that they end on a stop); ``wrap_file`` wraps a video file's source."""
    from edge_runtime.media.sources import (OpenCVSource, PiCameraSource, ResilientSource,
                                            RetryPolicy)

    if args.picamera:
        source = PiCameraSource(args.width, args.height, args.fps)
    else:
        target = args.camera if args.camera is not None else args.video
        source = OpenCVSource(target, args.width, args.height, args.fps)
        if wrap_file is not None and not source.live:
            source = wrap_file(source)
    return ResilientSource(source, RetryPolicy(give_up_after_s=args.give_up_after), wait=wait,
                           prog=prog)
