"""``fashion-classify``: classify image files, directories, video files and live camera frames
on a device, without TensorFlow.

What an image is, the content decides (:mod:`edge_runtime.media.formats`): files that are not
images are counted on the summary line that ends a batch on stderr, and written as records only
with ``--all-files``.

Exit status: 0 every image classified (or a stream ended, or was stopped by SIGINT/SIGTERM),
1 some inputs failed (the rest are still reported; with ``--strict`` a file that is not an image
too) or a camera/video failed for good, 2 usage error (bad option, unusable model, no
interpreter installed).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from edge_runtime import native_messages
from edge_runtime.media.inputs import expand_inputs
from edge_runtime.apps.outputs import FORMATS, RecordWriter
from edge_runtime.apps.options import (add_batch_options, add_model_options, add_source_options,
                                      check_options, classifier_options, has_source, make_source)
from edge_runtime.apps.progress import Progress
from edge_runtime.apps.summary import Tally

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-classify``."""
    parser = argparse.ArgumentParser(
        prog="fashion-classify",
        description="Classify clothing images with a Fashion-MNIST TFLite model. PATHs are image "
        "files, directories (searched recursively) or glob patterns; a file is an image by its "
        "content, whatever its name.",
        epilog="Exit status: 0 all classified, 1 some inputs failed (with --strict, also a file "
        "that is not an image), 2 usage or model error.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH")
    source = add_source_options(
        parser, "live sources (instead of PATHs)", video_help="a video file or network stream",
        fps_help="requested camera frame rate", give_up_after=60.0,
        give_up_help="keep retrying a failed camera this long (default 60 s)")
    source.add_argument("--emit", choices=["every", "change"], default="every",
                        help="a record per frame, or only when the smoothed label changes")
    source.add_argument("--show", action="store_true",
                        help="show the annotated frames in a window (needs a display)")
    source.add_argument("--record", type=Path, metavar="FILE", help="write annotated video")
    source.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    add_model_options(parser, "fmnist: 28x28 garment bright on black; photo: a photo or frame "
                      "for the photo model; auto: decide per image (default)")
    parser.add_argument("--format", default="jsonl", choices=FORMATS)
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="write records here instead of stdout")
    parser.add_argument("--save-inputs", type=Path, metavar="DIR",
                        help="write the 28x28 input the model saw (and the mask) as PNG")
    add_batch_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-classify``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_options(parser, args)
    options = classifier_options(parser, args)
    native_messages.set_verbose(args.verbose)
    live = has_source(args)
    if live == bool(args.paths):
        parser.error("give PATHs to classify, or one of --camera, --picamera, --video")
    if args.show and live:
        from edge_runtime.media.video import display_available

        reason = display_available()
        if reason:
            parser.error(f"--show: {reason}")
    from edge_runtime.classifier import MODEL_ERRORS, Classifier

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            classifier = Classifier.from_options(options)
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
        tally = Tally()
        for record in classify_files(classifier, inputs, args.save_inputs):
            if args.all_files or "skipped" not in record:
                writer.write(record)
            tally.add(record)
            progress.step()
        progress.close()
        print(f"fashion-classify: {tally.line()}", file=sys.stderr)
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
    return EXIT_SOME_FAILED if tally.failed(args.strict) else EXIT_OK


def run_stream(args, classifier, writer: RecordWriter) -> int:
    """Classify a camera or video until it ends, fails for good, or SIGINT/SIGTERM arrives (a
    second one exits at once)."""
    from edge_runtime.apps.interrupts import stop_on_signals
    from edge_runtime.apps.live import LiveOptions, run_live
    from edge_runtime.media.sources import FrameSourceError

    options = LiveOptions(roi=args.roi, smooth=args.smooth, emit=args.emit,
                          background_frames=args.background, show=args.show,
                          record=args.record, max_frames=args.max_frames)
    with stop_on_signals() as stop:
        # Waits between reopen attempts end as soon as a stop is asked for.
        source = make_source(args, stop.wait, "fashion-classify")
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
