"""``fashion-convert``: Keras model to gated, self-describing TFLite bundles."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from train.data import DataError, DataNotFoundError, load_fashion_mnist

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
        "more read right, the 95% interval of the difference above zero) and, for the photo "
        "model and the garment model fashion_cnn_int8, reads no fewer of the photos the photo "
        "model held out through fashion-classify's decision.",
    )
    parser.add_argument("--model", type=Path, required=True, help="trained model.keras")
    parser.add_argument("--quantization", nargs="+", default=["float32", "int8"],
                        choices=["float32", "float16", "dynamic", "int8"])
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
                        "run was trained with); garment model (fashion_cnn_int8): where the "
                        "shipped photo model's held-out photos are, to measure it through "
                        "fashion-classify's decision (without them a shipped one stays)")
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
    for result in results.values():  # the temporary path means nothing in a manifest
        if "error" in result:
            result["error"] = result["error"].replace(f"{path}: ", "")
    return results


def training_run(model_path: Path) -> dict:
    """The ``metrics.json`` of the fashion-train run that wrote ``model_path`` (beside it), so
    the manifest says what the model learnt from; empty for a model from elsewhere."""
    from train.report import METRICS_FILE

    try:
        run = json.loads((model_path.parent / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return run if isinstance(run, dict) else {}


def _by_source(results: dict) -> dict[str, dict]:
    """A ``fashion-evaluate`` results file's payload per folder (one folder: its own)."""
    return results["sources"] if "sources" in results else {"photos": results}


def _figures(payload: dict) -> dict:
    """One folder's overall and per-class figures, all its photos counted."""
    everything = payload["parts"]["all"]
    return {"model": payload["model"], "n_photos": everything["n"],
            "top1": round(everything["top1"], 4), "top3": round(everything["top3"], 4),
            "worst_class_top1": round(everything["worst_class_top1"], 4),
            "per_class_top1": {label: round(row["top1"], 4)
                               for label, row in everything["per_class"].items() if row["scored"]}}


def cross_validated(path: Path) -> dict:
    """The figures per photo source of a ``fashion-evaluate --fold-models`` results file, and
    the fold models' own float-against-int8 figures on their held-out photos (each fold model's
    manifest beside it), whose drop the cross-validated gate limits."""
    results = json.loads(path.read_text(encoding="utf-8"))
    by_source = _by_source(results)
    fold_models = next(iter(by_source.values()))["fold_models"]
    held = [json.loads(Path(model).with_suffix(".json").read_text(encoding="utf-8"))
            ["metrics"]["parts"]["held-out photos"] for model in fold_models]
    n = sum(part["n_images"] for part in held)
    keras_top1 = sum(part["keras_accuracy"] * part["n_images"] for part in held) / n
    int8_top1 = sum(part["tflite_accuracy"] * part["n_images"] for part in held) / n
    return {"sources": {name: _figures(payload) for name, payload in by_source.items()},
            "all_photos_keras_top1": round(keras_top1, 4),
            "all_photos_int8_top1": round(int8_top1, 4),
            "int8_drop_pp": round((keras_top1 - int8_top1) * 100, 2)}


def left_out(path: Path) -> dict:
    """The figures per photo source of a ``fashion-evaluate --source-model`` results file: each
    source scored by a model that never saw it."""
    results = json.loads(path.read_text(encoding="utf-8"))
    return {name: _figures(payload) for name, payload in _by_source(results).items()}


def with_metadata(model_bytes: bytes, name: str, input_size: int, float_input: bool) -> bytes:
    """A photo model's bytes with the standard image-classifier metadata MediaPipe reads. The
    model normalises inside, so a float32 input (every mode but int8) takes the 0-255 pixels as
    they are: its metadata says mean 0, std 1, which MediaPipe needs for a float input."""
    from convert.metadata import ImageClassifierInfo, add_image_classifier_metadata
    from edge_runtime.labels import FASHION_MNIST_LABELS

    pixels = "float32 0-255" if float_input else "uint8 0-255"
    return add_image_classifier_metadata(model_bytes, ImageClassifierInfo(
        name=name, labels=FASHION_MNIST_LABELS,
        description="Fashion-MNIST classes for photos of clothes: EfficientNet-Lite0 (ImageNet) "
        "with a head trained on real photos and on Fashion-MNIST rendered as photos",
        input_description=f"RGB photo, {pixels}, {input_size}x{input_size}; normalisation "
        "inside the model", normalization=((0.0,), (1.0,)) if float_input else None,
        author="fashion-edge", license="MIT"))


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
    from convert.evaluation import EvaluationDataError, fmnist_set, photo_set
    from convert.manifest import FMNIST_INPUT, PHOTO_INPUT, build_manifest, ship
    from convert.metadata import MetadataToolError
    from train.quantize import convert
    from convert.replacement import (HeldOutPhotos, Verdict, held_out_read_right,
                                     paired_with_shipped, photo_model_held_out, shipped_verdict)
    from edge_runtime.interpreter.bundle import GARMENT_MODEL_NAME, sha256_file
    from edge_runtime.interpreter.runner import ModelRunner

    try:
        model = keras.models.load_model(args.model)
    except (ValueError, OSError) as exc:
        print(f"fashion-convert: error: {args.model}: cannot load Keras model ({exc})",
              file=sys.stderr)
        return 1
    run = training_run(args.model)
    shape = tuple(model.inputs[0].shape[1:])
    photo = len(shape) == 3 and shape[-1] == 3
    names = [f"{args.name or model.name}_{mode}" for mode in args.quantization]
    try:
        evaluation = (photo_set(run, data, args.photos, shape[0], args.calibration_size,
                                args.seed) if photo
                      else fmnist_set(data, args.calibration_size, args.seed))
        # The photos on which a photo or garment model must also read no fewer right than the
        # shipped one through fashion-classify's decision.
        held_out = None
        if photo:
            held_out = HeldOutPhotos(evaluation.held_out_photos,
                                     evaluation.labels[evaluation.parts["held-out photos"]])
        elif args.photos and GARMENT_MODEL_NAME in names:
            held_out = photo_model_held_out(args.out, args.photos)
    except EvaluationDataError as exc:
        print(f"fashion-convert: error: {exc}", file=sys.stderr)
        return 1
    reference = model.predict(evaluation.inputs, batch_size=256, verbose=0).argmax(axis=1)
    provenance = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "source_model": str(args.model),
        "source_model_sha256": sha256_file(args.model),
        "data_sha256": data.sha256,
        "training": run.get("config"),
    }
    if photo:
        provenance |= {"weights": run.get("weights"),
                       "photo_list_sha256": (run.get("data") or {}).get("photo_list_sha256")}
    model_info = {"architecture": run.get("architecture", model.name),
                  "parameters": int(model.count_params())}
    tolerances = {"overall_pp": args.tolerance_pp, "per_class_pp": args.per_class_tolerance_pp}
    try:
        crossval = cross_validated(args.crossval) if args.crossval else None
    except (OSError, KeyError, ValueError, ZeroDivisionError, StopIteration) as exc:
        print(f"fashion-convert: error: --crossval {args.crossval}: not fashion-evaluate "
              f"--fold-models results with converted fold models beside them ({exc})",
              file=sys.stderr)
        return 1
    try:
        loso = left_out(args.loso) if args.loso else None
    except (OSError, KeyError, ValueError) as exc:
        print(f"fashion-convert: error: --loso {args.loso}: not fashion-evaluate results "
              f"({exc})", file=sys.stderr)
        return 1
    status = 0
    for mode, name in zip(args.quantization, names):
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its graph
            model_bytes = convert(model, mode, evaluation.calibration)
        if photo:
            try:
                model_bytes = with_metadata(model_bytes, name, shape[0], mode != "int8")
            except (MetadataToolError, ValueError) as exc:
                print(f"fashion-convert: error: {name}: cannot add metadata: {exc}",
                      file=sys.stderr)
                return 1
        runner = ModelRunner(model_bytes)
        candidate = runner.probabilities_batch(evaluation.inputs).argmax(axis=1)
        comparison = compare_predictions(evaluation.labels, reference, candidate)
        parts = {part: compare_predictions(evaluation.labels[rows], reference[rows],
                                           candidate[rows])
                 for part, rows in evaluation.parts.items()}
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
            output_spec=runner.output_spec, input_meaning=PHOTO_INPUT if photo else FMNIST_INPUT,
            model_info=model_info, dataset=evaluation.description, comparison=comparison,
            parts=parts, tolerances=tolerances,
            calibration=evaluation.calibration_note if mode == "int8" else None,
            provenance=provenance,
            evaluated_with=f"{runner.backend} {runtimes[runner.backend]['version']}",
            runtimes=runtimes,
        )
        if photo:  # so that any runtime can check it reproduces the model, label for label
            for part, rows in evaluation.parts.items():
                manifest["metrics"]["parts"][part]["predicted"] = "".join(
                    str(label) for label in candidate[rows])
        if loso:
            manifest["metrics"]["leave_one_source_out"] = loso
        if crossval:
            manifest["metrics"]["cross_validated"] = crossval
            if crossval["int8_drop_pp"] > args.tolerance_pp:
                print(f"{summary}\n  NOT SHIPPED: cross-validated int8 drop "
                      f"{crossval['int8_drop_pp']:.2f} pp exceeds --tolerance-pp "
                      f"{args.tolerance_pp}", flush=True)
                status = EXIT_GATED
                continue
        role = ("photo_model" if photo else "garment_model" if name == GARMENT_MODEL_NAME
                else None)
        alone = partial(paired_with_shipped, inputs=evaluation.inputs, labels=evaluation.labels,
                        candidate=candidate)
        read_right = (partial(held_out_read_right, name=name, model_bytes=model_bytes,
                              manifest=manifest, held_out=held_out, role=role) if role else None)
        verdict = (Verdict(False) if args.replace
                   else shipped_verdict(args.out, name, model_bytes, manifest, alone, read_right))
        if verdict.keep_shipped:
            print(f"{summary}\n  {verdict.reason}", flush=True)
            continue
        path = ship(args.out, name, model_bytes, manifest)
        refused = [b for b, r in runtimes.items() if r.get("loads") is False]
        note = "".join(f"; {text}" for text in (
            verdict.reason, f"does NOT load on {', '.join(refused)}" if refused else "") if text)
        print(f"{summary}\n  shipped {path}{note}", flush=True)
    return status
