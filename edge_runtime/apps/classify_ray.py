"""``fashion-classify-ray``: classify a catalogue of image files on a Ray cluster (a local one by
default) and write ``fashion-classify``'s records as JSON Lines or Parquet part files.

Files that are not images (by their content) are counted on the summary line, and recorded only
with ``--all-files``, as ``fashion-classify`` does.

Exit status: 0 every image of this run classified (or nothing left to do), 1 some files of this
run are error records (the rest are written; with ``--strict`` also a file that is not an
image), 2 usage or model error (Ray not installed included), 3 the Ray job failed (finished
parts are kept: re-run the command to resume).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from edge_runtime import native_messages
from edge_runtime.apps.options import add_batch_options, add_model_options, classifier_options
from edge_runtime.interpreter.backend import BACKENDS

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_JOB_FAILED = 0, 1, 2, 3
PROG = "fashion-classify-ray"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-classify-ray``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify every image file under SRC on a Ray cluster, one classifier per "
        "worker, and write fashion-classify's records to DEST. SRC: files, directories "
        "(searched recursively), globs, or URIs Ray Data reads (s3://bucket/photos/, gs://...). "
        "A re-run with the same DEST classifies only the files DEST holds no record of.",
        epilog="Exit status: 0 all classified, 1 some error records (with --strict, also a file "
        "that is not an image), 2 usage or model error, 3 the Ray job failed (re-run to resume).",
    )
    parser.add_argument("sources", nargs="+", metavar="SRC")
    parser.add_argument("--out", required=True, metavar="DEST",
                        help="output directory (local path or URI) for the part files")
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "parquet"],
                        help="JSON Lines, line for line what fashion-classify writes (default), "
                        "or Parquet")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="actors, one classifier and one CPU each (default: every CPU of "
                        "the cluster)")
    parser.add_argument("--batch-size", type=int, default=1000, metavar="N",
                        help="files per batch handed to an actor, and records per part file "
                        "(default 1000)")
    parser.add_argument("--address", metavar="ADDR",
                        help="a running Ray cluster: HOST:PORT as 'ray start' prints it, or "
                        "'auto' for this machine's (default: RAY_ADDRESS, else a local cluster "
                        "started for this run)")
    # The interpreters of the device runtime only: TensorFlow has no place on the workers.
    add_model_options(parser, "fmnist, photo, or auto: decide per image (default)",
                      backends=tuple(b for b in BACKENDS if b != "tensorflow"))
    add_batch_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-classify-ray``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    options = classifier_options(parser, args)
    native_messages.set_verbose(args.verbose)
    if args.batch_size < 1 or (args.workers is not None and args.workers < 1):
        parser.error("--workers and --batch-size must be >= 1")
    try:
        import ray
        import ray.data  # pyarrow with it
    except ImportError as exc:
        print(f"{PROG}: error: Ray Data is not installed ({exc}); install it with "
              "pip install 'fashion-edge[ray]' (or pip install -e '.[ray]')", file=sys.stderr)
        return EXIT_USAGE
    from edge_runtime.apps.ray_batch import classify_catalog, start_ray
    from edge_runtime.classifier import MODEL_ERRORS, Classifier

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            Classifier.from_options(options).close()  # a bad model: one line here, not per actor
    except MODEL_ERRORS as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for warning in caught:
        print(f"{PROG}: warning: {warning.message}", file=sys.stderr)

    try:
        started = start_ray(args.address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        print(f"{PROG}: error: cannot start or reach Ray ({' '.join(str(exc).split())[:300]})",
              file=sys.stderr)
        return EXIT_USAGE
    # Ray Data's own progress display for people; its per-step log lines are not for them.
    ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        run = classify_catalog(args.sources, args.out, options, workers=args.workers,
                               batch_size=args.batch_size, fmt=args.format,
                               all_files=args.all_files, verbose=args.verbose)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ray.exceptions.RayError as exc:
        print(f"{PROG}: error: the Ray job failed ({' '.join(str(exc).split())[:300]}); "
              "finished parts are kept: re-run to resume", file=sys.stderr)
        return EXIT_JOB_FAILED
    except OSError as exc:  # the output directory cannot be read or made
        print(f"{PROG}: error: --out {args.out}: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished parts are kept: re-run to resume", file=sys.stderr)
        return 130
    finally:
        if started:
            ray.shutdown()
    summary = f"{run.listed:,} files listed, {run.skipped:,} already recorded in {args.out}"
    if run.done:
        summary += (f"; {run.tally.line()}; by {run.workers} worker{'s' * (run.workers != 1)} "
                    f"in {run.seconds:.1f} s ({run.files_per_second:,.0f} files/s), {run.parts} "
                    "part files written")
    print(f"{PROG}: {summary}", file=sys.stderr)
    return EXIT_SOME_FAILED if run.tally.failed(args.strict) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
