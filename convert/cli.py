"""``fashion-convert``: Keras model to gated, self-describing TFLite bundles."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from train.data import DataError, DataNotFoundError, load_fashion_mnist

EXIT_GATED = 3


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-convert``."""
    parser = argparse.ArgumentParser(
        prog="fashion-convert",
        description="Convert a trained Keras model to TFLite, measure every variant on the full "
        "Fashion-MNIST test set with the device interpreter, and ship only those whose accuracy "
        "drop is within tolerance (exit status 3 otherwise).",
    )
    parser.add_argument("--model", type=Path, required=True, help="trained model.keras")
    parser.add_argument("--quantization", nargs="+", default=["float32", "int8"],
                        choices=["float32", "float16", "dynamic", "int8"])
    parser.add_argument("--out", type=Path, default=Path("models"), metavar="DIR")
    parser.add_argument("--name", default="fashion_mlp",
                        help="file name prefix: NAME_MODE.tflite (default: %(default)s)")
    parser.add_argument("--tolerance-pp", type=float, default=0.5,
                        help="largest overall accuracy drop allowed, in points (default 0.5)")
    parser.add_argument("--per-class-tolerance-pp", type=float, default=2.0,
                        help="largest single-class accuracy drop allowed, in points (default 2.0)")
    parser.add_argument("--calibration-size", type=int, default=1000,
                        help="int8 representative images, stratified by class (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="calibration sampling seed")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--legacy-python", type=Path, metavar="PATH",
                        help="python of a tflite-runtime environment: also record whether "
                        "tflite-runtime loads each model")
    return parser


def probe_runtimes(model_bytes: bytes, legacy_python: Path | None) -> dict[str, dict]:
    """Load and invoke the model on every interpreter installed here (and in the legacy env)."""
    from edge_runtime.interpreter.probe import probe_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model_bytes)
        results = probe_model(path)
        if legacy_python:
            done = subprocess.run([str(legacy_python), "-m", "edge_runtime.interpreter.probe", str(path)],
                                  capture_output=True, text=True, timeout=120,
                                  cwd=Path(__file__).resolve().parent.parent)
            if done.returncode == 0:
                results |= json.loads(done.stdout.strip().splitlines()[-1])
            else:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                results["tflite-runtime"] = {"loads": None, "error": f"probe failed: {tail}"}
    return results


def training_config(model_path: Path) -> dict | None:
    """The config of the fashion-train run that wrote ``model_path`` (its metrics.json beside
    it), so the manifest says what the model learnt from; None for a model from elsewhere."""
    from train.report import METRICS_FILE

    try:
        run = json.loads((model_path.parent / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = run.get("config") if isinstance(run, dict) else None
    if isinstance(config, dict) and run.get("n_real_photos"):
        config = config | {"n_real_photos": run["n_real_photos"]}
    return config


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-convert``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.calibration_size < 10:
        parser.error("--calibration-size must be >= 10")
    if not args.model.is_file():
        print(f"fashion-convert: error: {args.model}: model file not found", file=sys.stderr)
        return 1
    try:
        data = load_fashion_mnist(args.data_dir)
    except (DataError, DataNotFoundError) as exc:
        print(f"fashion-convert: error: {exc}", file=sys.stderr)
        return 1

    import keras
    import tensorflow as tf

    from convert.compare import compare_predictions, gate_failures
    from convert.manifest import build_manifest, ship
    from convert.quantize import calibration_indices, convert
    from edge_runtime.interpreter.bundle import sha256_file
    from edge_runtime.interpreter.runner import ModelRunner

    try:
        model = keras.models.load_model(args.model)
    except (ValueError, OSError) as exc:
        print(f"fashion-convert: error: {args.model}: cannot load Keras model ({exc})",
              file=sys.stderr)
        return 1
    test = data.test
    reference = model.predict(test.images, batch_size=1000, verbose=0).argmax(axis=1)
    cal_index = calibration_indices(data.train.labels, args.calibration_size, args.seed)
    provenance = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "source_model": str(args.model),
        "source_model_sha256": sha256_file(args.model),
        "data_sha256": data.sha256,
        "training": training_config(args.model),
    }
    tolerances = {"overall_pp": args.tolerance_pp, "per_class_pp": args.per_class_tolerance_pp}
    status = 0
    for mode in args.quantization:
        name = f"{args.name}_{mode}"
        calibration = None
        if mode == "int8":
            calibration = {"images": len(cal_index), "source": "Fashion-MNIST training set",
                           "sampling": "stratified by class", "seed": args.seed}
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its graph
            model_bytes = convert(model, mode, data.train.images[cal_index])
        runner = ModelRunner(model_bytes)
        candidate = runner.probabilities_batch(test.images).argmax(axis=1)
        comparison = compare_predictions(test.labels, reference, candidate)
        summary = (f"{name}: {len(model_bytes) / 1024:.1f} KiB, accuracy "
                   f"{comparison.candidate_accuracy:.4f} (Keras {comparison.reference_accuracy:.4f}),"
                   f" drop {comparison.drop_pp:+.2f} pp [95% CI {comparison.drop_ci95_pp[0]:+.2f},"
                   f" {comparison.drop_ci95_pp[1]:+.2f}], worst class {comparison.worst_class} "
                   f"{comparison.worst_class_drop_pp:+.2f} pp, agreement {comparison.agreement:.4f}")
        failures = gate_failures(comparison, args.tolerance_pp, args.per_class_tolerance_pp)
        if failures:
            print(f"{summary}\n  NOT SHIPPED: " + "; ".join(failures), flush=True)
            status = EXIT_GATED
            continue
        runtimes = probe_runtimes(model_bytes, args.legacy_python)
        manifest = build_manifest(
            name=name, mode=mode, model_bytes=model_bytes, input_spec=runner.input_spec,
            output_spec=runner.output_spec, comparison=comparison, tolerances=tolerances,
            calibration=calibration,
            provenance=provenance,
            evaluated_with=f"{runner.backend} {runtimes[runner.backend]['version']}",
            runtimes=runtimes,
        )
        path = ship(args.out, name, model_bytes, manifest)
        refused = [b for b, r in runtimes.items() if r.get("loads") is False]
        note = f"; does NOT load on {', '.join(refused)}" if refused else ""
        print(f"{summary}\n  shipped {path}{note}", flush=True)
    return status
