"""``fashion-classify``: classify image files and directories on a device, without TensorFlow.

Exit status: 0 every input classified, 1 some inputs failed (the rest are still reported),
2 usage error (bad option, unusable model, no interpreter installed).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from edge_runtime.backend import BACKENDS, BackendUnavailableError, ModelLoadError
from edge_runtime.bundle import ManifestError, ModelIntegrityError
from edge_runtime.inputs import expand_inputs
from edge_runtime.outputs import FORMATS, RecordWriter
from edge_runtime.progress import Progress
from edge_runtime.tensors import ModelInputError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-classify``."""
    parser = argparse.ArgumentParser(
        prog="fashion-classify",
        description="Classify clothing images with a Fashion-MNIST TFLite model. PATHs are image "
        "files, directories (searched recursively) or glob patterns.",
        epilog="Exit status: 0 all classified, 1 some inputs failed, 2 usage or model error.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
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
                        help="report 'unknown' when the top score is below T")
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
    from edge_runtime.classifier import Classifier

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            classifier = Classifier(args.model, args.backend, args.threads, args.top_k,
                                    args.threshold, args.preprocess, args.photo_model)
    except (FileNotFoundError, ModelIntegrityError, ManifestError, ModelInputError,
            ModelLoadError, BackendUnavailableError) as exc:
        print(f"fashion-classify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for warning in caught:
        print(f"fashion-classify: warning: {warning.message}", file=sys.stderr)

    from edge_runtime.batch import classify_files

    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        writer = RecordWriter(out, args.format)
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
