"""``fashion-classify``: classify image files, directories, video files and live camera frames
on a device, without TensorFlow.

Exit status: 0 every input classified (or a stream ended, or was stopped by SIGINT/SIGTERM),
1 some inputs failed (the rest are still reported) or a camera/video failed for good,
2 usage error (bad option, unusable model, no interpreter installed).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from edge_runtime.interpreter.backend import BACKENDS
from edge_runtime.media.inputs import expand_inputs
from edge_runtime.apps.outputs import FORMATS, RecordWriter
from edge_runtime.apps.progress import Progress

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-classify``."""
    parser = argparse.ArgumentParser(
        prog="fashion-classify",
        description="Classify clothing images with a Fashion-MNIST TFLite model. PATHs are image "
        "files, directories (searched recursively) or glob patterns.",
        epilog="Exit status: 0 all classified, 1 some inputs failed, 2 usage or model error.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH")
    source = parser.add_argument_group("live sources (instead of PATHs)")
    exclusive = source.add_mutually_exclusive_group()
    exclusive.add_argument("--camera", type=int, metavar="N", help="USB webcam N (OpenCV/V4L2)")
    exclusive.add_argument("--picamera", action="store_true",
                           help="the Raspberry Pi CSI camera (picamera2)")
    exclusive.add_argument("--video", metavar="PATH|URL", help="a video file or network stream")
    source.add_argument("--width", type=int, default=640)
    source.add_argument("--height", type=int, default=480)
    source.add_argument("--fps", type=float, help="requested camera frame rate")
    source.add_argument("--roi", metavar="x,y,w,h",
                        help="region to classify, in pixels (default: a centred square)")
    source.add_argument("--smooth", type=int, default=5, metavar="N",
                        help="average probabilities over the last N frames (default 5)")
    source.add_argument("--background", type=int, nargs="?", const=15, default=0, metavar="K",
                        help="static camera: learn the empty scene from the first K frames "
                        "(default 15) and segment the garment against it")
    source.add_argument("--emit", choices=["every", "change"], default="every",
                        help="a record per frame, or only when the smoothed label changes")
    source.add_argument("--show", action="store_true",
                        help="show the annotated frames in a window (needs a display)")
    source.add_argument("--record", type=Path, metavar="FILE", help="write annotated video")
    source.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    source.add_argument("--give-up-after", type=float, default=60.0, metavar="S",
                        help="keep retrying a failed camera this long (default 60 s)")
    parser.add_argument("--model", type=Path,
                        help="a .tflite model; its NAME.json manifest is read when present "
                        "(default: the shipped int8 model)")
    parser.add_argument("--photo-model", type=Path,
                        help="model for inputs prepared by the photo path (default: --model, or "
                        "the shipped photo-robust model when --model is not given)")
    parser.add_argument("--backend", default="auto", choices=["auto", *BACKENDS],
                        help="interpreter (default: ai-edge-litert, then tflite-runtime, "
                        "then tensorflow)")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--top-k", type=int, default=3, metavar="K")
    parser.add_argument("--threshold", type=float, default=0.0, metavar="T",
                        help="give no label (label null, with a reason) when the top score is "
                        "below T")
    parser.add_argument("--preprocess", default="auto", choices=["auto", "fmnist", "photo"],
                        help="fmnist: 28x28 garment bright on black; photo: segment the garment "
                        "from its background; auto: decide per image (default)")
    parser.add_argument("--format", default="jsonl", choices=FORMATS)
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="write records here instead of stdout")
    parser.add_argument("--save-inputs", type=Path, metavar="DIR",
                        help="write the 28x28 input the model saw (and the mask) as PNG")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-classify``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top_k < 1 or args.threads < 1 or not 0.0 <= args.threshold <= 1.0:
        parser.error("--top-k and --threads must be >= 1, --threshold within 0..1")
    live = args.camera is not None or args.picamera or args.video is not None
    if live == bool(args.paths):
        parser.error("give PATHs to classify, or one of --camera, --picamera, --video")
    if args.smooth < 1:
        parser.error("--smooth must be >= 1")
    if args.roi:
        from edge_runtime.apps.live import parse_roi

        try:
            args.roi = parse_roi(args.roi)
        except ValueError as exc:
            parser.error(str(exc))
    if args.show and live:
        from edge_runtime.media.imaging import display_available

        reason = display_available()
        if reason:
            parser.error(f"--show: {reason}")
    from edge_runtime.classifier import MODEL_ERRORS, Classifier

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            classifier = Classifier(args.model, photo_model=args.photo_model,
                                    backend=args.backend, num_threads=args.threads,
                                    top_k=args.top_k, threshold=args.threshold,
                                    preprocess=args.preprocess)
    except MODEL_ERRORS as exc:
        print(f"fashion-classify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for warning in caught:
        print(f"fashion-classify: warning: {warning.message}", file=sys.stderr)

    try:
        out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    except OSError as exc:
        classifier.close()
        print(f"fashion-classify: error: --output {args.output}: cannot write "
              f"({exc.strerror or exc})", file=sys.stderr)
        return EXIT_USAGE
    try:
        writer = RecordWriter(out, args.format, live=live)
        if live:
            return run_stream(args, classifier, writer)
        from edge_runtime.apps.batch import classify_files

        inputs = expand_inputs(args.paths)
        progress = Progress(len(inputs), sys.stderr)
        failed = 0
        for record in classify_files(classifier, inputs, args.save_inputs):
            writer.write(record)
            failed += "error" in record
            progress.step()
        progress.close()
    except KeyboardInterrupt:
        print("fashion-classify: interrupted; records written so far are kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader (head, a closed pipe) stopped listening
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SOME_FAILED
    finally:
        classifier.close()
        if out is not sys.stdout:
            out.close()
    return EXIT_SOME_FAILED if failed else EXIT_OK


def run_stream(args, classifier, writer: RecordWriter) -> int:
    """Classify a camera or video until it ends, fails for good, or SIGINT/SIGTERM arrives (a
    second one exits at once)."""
    from edge_runtime.apps.interrupts import stop_on_signals
    from edge_runtime.apps.live import LiveOptions, run_live
    from edge_runtime.media.sources import (FrameSourceError, OpenCVSource, PiCameraSource,
                                            ResilientSource, RetryPolicy)

    if args.picamera:
        source = PiCameraSource(args.width, args.height, args.fps)
    else:
        target = args.camera if args.camera is not None else args.video
        source = OpenCVSource(target, args.width, args.height, args.fps)
    options = LiveOptions(roi=args.roi, smooth=args.smooth, emit=args.emit,
                          background_frames=args.background, show=args.show,
                          record=args.record, max_frames=args.max_frames)
    with stop_on_signals() as stop:
        # Waits between reopen attempts end as soon as a stop is asked for.
        source = ResilientSource(source, RetryPolicy(give_up_after_s=args.give_up_after),
                                 wait=stop.wait)
        try:
            source.open()
            run_live(source, classifier, writer.write, options, stop.is_set)
        except FrameSourceError as exc:
            print(f"fashion-classify: error: {exc}", file=sys.stderr)
            return EXIT_SOME_FAILED
        except ValueError as exc:  # an ROI outside the frame, an unwritable --record
            print(f"fashion-classify: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            source.close()
    return EXIT_OK
