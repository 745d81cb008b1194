"""``fashion-bench``: every model variant on every interpreter of this device, side by side,
and the end-to-end figures; ``--check FILE`` grades the run against a file of limits."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmark.limits import PROJECT_LIMITS, LimitsError, check, load_limits
from benchmark.report import markdown, write_results
from benchmark.run import BenchOptions, run_benchmark
from benchmark.stats import FULL, QUICK

ROOT = Path(__file__).resolve().parent.parent
EXIT_LIMIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-bench``."""
    parser = argparse.ArgumentParser(
        prog="fashion-bench",
        description="Benchmark every model variant of both architectures (MLP, CNN) on every "
        "installed interpreter: accuracy, drop against Keras, size, load time, cold start, peak "
        "RSS, interpreter and whole-call latency, batch throughput and real-photo accuracy; and, "
        "when the photo model is shipped, camera frames, photo decoding and fashion-classify "
        "on a photo with it, beside MediaPipe's ImageClassifier where it is installed. Writes "
        "results.json, results.md and PNG plots. With --check, grades the figures against a "
        "limits file (exit status 1 when one fails).")
    parser.add_argument("--models", type=Path, default=None,
                        help="directory of NAME.tflite bundles (default: the shipped models)")
    parser.add_argument("--keras", type=Path, default=Path("runs/default/model.keras"),
                        help="the MLP's Keras model, for its reference row (default: %(default)s)")
    parser.add_argument("--cnn-keras", type=Path, default=Path("runs/cnn/model.keras"),
                        help="the CNN's Keras model, for its reference row (default: "
                        "%(default)s)")
    parser.add_argument("--legacy-python", type=Path, metavar="PATH",
                        help="python of a tflite-runtime environment, for its rows")
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "real-photos",
                        help="labelled photo folder for the real-photo column (skipped if absent)")
    parser.add_argument("--mediapipe-python", type=Path,
                        default=ROOT / ".venv-mediapipe" / "bin" / "python", metavar="PATH",
                        help="python of an environment with mediapipe, to time its "
                        "ImageClassifier beside Classifier on the same photos (default: "
                        "%(default)s; skipped if absent)")
    parser.add_argument("--out", type=Path, default=Path("bench"), metavar="DIR")
    parser.add_argument("--quick", action="store_true",
                        help="one short run of every measurement: a first look, noisier")
    parser.add_argument("--check", type=Path, metavar="LIMITS_JSON",
                        help=f"grade the run against a limits file (this project's: "
                        f"{PROJECT_LIMITS.relative_to(ROOT)}); exit status 1 when one fails")
    parser.add_argument("--results", type=Path, metavar="RESULTS_JSON",
                        help="with --check: grade an earlier run's results.json instead of "
                        "measuring")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-bench``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.results and not args.check:
        parser.error("--results needs --check LIMITS_JSON")
    try:
        limits = load_limits(args.check) if args.check else None
        payload = json.loads(args.results.read_text(encoding="utf-8")) if args.results else None
    except (LimitsError, OSError, ValueError) as exc:
        print(f"fashion-bench: error: {exc}", file=sys.stderr)
        return 2
    if payload is None:
        options = BenchOptions(
            models=args.models,
            keras_models=tuple((arch, path) for arch, path in (("mlp", args.keras),
                                                               ("cnn", args.cnn_keras))
                               if path.is_file()),
            legacy_python=args.legacy_python,
            photos=args.photos if args.photos and args.photos.is_dir() else None,
            mediapipe_python=args.mediapipe_python if args.mediapipe_python.is_file() else None,
            out=args.out, effort=QUICK if args.quick else FULL)
        payload = run_benchmark(options, lambda line: print(line, file=sys.stderr, flush=True))
    findings = check(payload, limits) if limits is not None else []
    if limits is not None:
        payload |= {"limits": str(args.check),
                    "checks": [{"pass": ok, "check": text} for ok, text in findings]}
    if args.results:
        print("".join(f"- {'PASS' if ok else 'FAIL'}: {text}\n" for ok, text in findings), end="")
    else:
        written = write_results(payload, args.out)
        print(markdown(payload), end="")
        print(f"wrote {args.out}/" + ", ".join(written))
    return EXIT_LIMIT_FAILED if any(not ok for ok, _ in findings) else 0
