"""``fashion-convert``: Keras model to gated, self-describing TFLite bundles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convert.pipeline import GATED, SHIPPED, ConversionError, ConvertOptions, ModeResult, convert_model
from train.quantize import MODES

EXIT_GATED = 3


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-convert``."""
    parser = argparse.ArgumentParser(
        prog="fashion-convert",
        description="Convert a trained Keras model to TFLite, measure every variant against Keras "
        "with the device interpreter (a Fashion-MNIST model on the full test set; a photo model "
        "on the real photos its run held out and on rendered test garments), and ship only those "
        "whose accuracy drop is within tolerance (exit status 3 otherwise). A bundle in --out is "
        "replaced only by a model that is clearly better on the same pictures (paired with it: "
        "more read right, the 95% interval of the difference above zero; for a photo model, on "
        "the real photos its run held out).",
    )
    parser.add_argument("--model", type=Path, required=True, help="trained model.keras")
    parser.add_argument("--quantization", nargs="+", default=["float32", "int8"],
                        choices=MODES)
    parser.add_argument("--out", type=Path, default=Path("models"), metavar="DIR")
    parser.add_argument("--name",
                        help="file name prefix: NAME_MODE.tflite (default: the Keras model's "
                        "name, fashion_mlp or fashion_cnn, so that converting one architecture "
                        "never replaces the other's bundles)")
    parser.add_argument("--tolerance-pp", type=float, default=0.5,
                        help="largest overall accuracy drop allowed, in points (default 0.5)")
    parser.add_argument("--per-class-tolerance-pp", type=float, default=2.0,
                        help="largest single-class accuracy drop allowed, in points (default 2.0)")
    parser.add_argument("--calibration-size", type=int, default=1000,
                        help="int8 representative images, stratified by class (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="calibration sampling seed")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--photos", type=Path, metavar="DIR",
                        help="photo model: where its run's photos are (default: the folder the "
                        "run was trained with)")
    parser.add_argument("--crossval", type=Path, metavar="RESULTS_JSON",
                        help="photo model: fashion-evaluate --fold-models results to record in "
                        "the manifest as its cross-validated figures (per photo source)")
    parser.add_argument("--loso", type=Path, metavar="RESULTS_JSON",
                        help="photo model: fashion-evaluate --source-model results to record in "
                        "the manifest as its leave-one-source-out figures")
    parser.add_argument("--replace", action="store_true",
                        help="ship even when the bundle in --out should stay")
    parser.add_argument("--legacy-python", type=Path, metavar="PATH",
                        help="python of a tflite-runtime environment: also record whether "
                        "tflite-runtime loads each model")
    return parser


def summary(result: ModeResult) -> str:
    """One mode's figures and what became of it, in two lines."""
    c = result.comparison
    line = (f"{result.name}: {result.size_bytes / 1024:.1f} KiB, accuracy "
            f"{c.candidate_accuracy:.4f} (Keras {c.reference_accuracy:.4f}), drop "
            f"{c.drop_pp:+.2f} pp [95% CI {c.drop_ci95_pp[0]:+.2f}, {c.drop_ci95_pp[1]:+.2f}], "
            f"worst class {c.worst_class} {c.worst_class_drop_pp:+.2f} pp, agreement "
            f"{c.agreement:.4f}")
    if result.outcome == GATED:
        return f"{line}\n  NOT SHIPPED: {result.reason}"
    if result.outcome != SHIPPED:
        return f"{line}\n  {result.reason}"
    refused = f"does NOT load on {', '.join(result.refused_by)}" if result.refused_by else ""
    note = "".join(f"; {text}" for text in (result.reason, refused) if text)
    return f"{line}\n  shipped {result.path}{note}"


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-convert``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = ConvertOptions(
            quantization=tuple(args.quantization), out=args.out, name=args.name,
            tolerance_pp=args.tolerance_pp, per_class_tolerance_pp=args.per_class_tolerance_pp,
            calibration_size=args.calibration_size, seed=args.seed, data_dir=args.data_dir,
            photos=args.photos, crossval=args.crossval, loso=args.loso, replace=args.replace,
            legacy_python=args.legacy_python)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        results = convert_model(args.model, options,
                                report=lambda result: print(summary(result), flush=True))
    except ConversionError as exc:
        print(f"fashion-convert: error: {exc}", file=sys.stderr)
        return 1
    return EXIT_GATED if any(result.outcome == GATED for result in results) else 0
