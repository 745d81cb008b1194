"""Keras model to gated, self-describing TFLite bundles: the conversion as one library call.

:func:`convert_model` loads the data and the model, builds what the model is measured and
calibrated on, and for every quantization mode converts, measures against Keras with the device
interpreter, gates on the drop, probes which runtimes load it, builds the manifest, decides
whether it may replace the shipped bundle and ships it. ``fashion-convert`` only parses its
arguments for it and prints what it returns.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from convert.compare import Comparison
from train.quantize import MODES

SHIPPED, GATED, KEPT = "shipped", "gated", "kept"  # what became of a mode's model


class ConversionError(ValueError):
    """The model, its data or the figures to record cannot be used; the message is one line."""


@dataclass(frozen=True)
class ConvertOptions:
    """How to convert, measure, gate and ship.

    Attributes:
        quantization: the modes to convert to, each one bundle (``NAME_MODE``).
        out: where bundles are shipped, and where the shipped ones are compared with.
        name: file name prefix (default: the Keras model's name).
        tolerance_pp: largest overall accuracy drop against Keras, in points.
        per_class_tolerance_pp: largest single-class accuracy drop, in points.
        calibration_size: int8 representative images, stratified by class (at least 10).
        seed: calibration sampling seed.
        data_dir: where the Fashion-MNIST IDX files are (default: searched for).
        photos: a photo model's photos (default: the folder its run was trained with).
        crossval: ``fashion-evaluate --fold-models`` results to record (photo model).
        loso: ``fashion-evaluate --source-model`` results to record (photo model).
        replace: ship even where the bundle in ``out`` should stay.
        legacy_python: python of a tflite-runtime environment, to record whether it loads each.
    """

    quantization: tuple[str, ...] = ("float32", "int8")
    out: Path = Path("models")
    name: str | None = None
    tolerance_pp: float = 0.5
    per_class_tolerance_pp: float = 2.0
    calibration_size: int = 1000
    seed: int = 0
    data_dir: Path | None = None
    photos: Path | None = None
    crossval: Path | None = None
    loso: Path | None = None
    replace: bool = False
    legacy_python: Path | None = None

    def __post_init__(self) -> None:
        unknown = [mode for mode in self.quantization if mode not in MODES]
        if unknown or not self.quantization:
            raise ValueError(f"quantization must be some of {', '.join(MODES)}, got "
                             f"{', '.join(self.quantization) or 'none'}")
        if self.calibration_size < 10:
            raise ValueError(f"calibration size {self.calibration_size}, expected >= 10")


@dataclass(frozen=True)
class ModeResult:
    """What became of one quantization mode's model.

    Attributes:
        name: the bundle's name (``NAME_MODE``).
        size_bytes: the TFLite file's size.
        comparison: its accuracy against Keras on the same pictures.
        outcome: :data:`SHIPPED`, :data:`GATED` (over a tolerance) or :data:`KEPT` (the shipped
            bundle stays).
        reason: why it was gated or kept, or a note on the shipped one (empty when none).
        path: where it was shipped.
        refused_by: runtimes that cannot load the shipped model.
    """

    name: str
    size_bytes: int
    comparison: Comparison
    outcome: str
    reason: str = ""
    path: Path | None = None
    refused_by: tuple[str, ...] = ()


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


def _recorded_figures(options: ConvertOptions) -> tuple[dict | None, dict | None]:
    """The cross-validated and leave-one-source-out figures to record, where given."""
    from convert.crossval import cross_validated, left_out

    try:
        crossval = cross_validated(options.crossval) if options.crossval else None
    except (OSError, KeyError, ValueError, ZeroDivisionError, StopIteration) as exc:
        raise ConversionError(f"--crossval {options.crossval}: not fashion-evaluate "
                              f"--fold-models results with converted fold models beside them "
                              f"({exc})") from None
    try:
        loso = left_out(options.loso) if options.loso else None
    except (OSError, KeyError, ValueError) as exc:
        raise ConversionError(f"--loso {options.loso}: not fashion-evaluate results "
                              f"({exc})") from None
    return crossval, loso


def convert_model(model_path: Path, options: ConvertOptions = ConvertOptions(),
                  report: Callable[[ModeResult], None] | None = None) -> list[ModeResult]:
    """Convert, measure, gate and ship ``model_path`` (a ``model.keras``) in every mode of
    ``options``; ``report`` is called with each mode's result as soon as it is known.

    Returns every mode's result, in ``options.quantization`` order. Raises ConversionError
    when the model, its data, the photos it is measured on or the figures to record cannot
    be used, or a photo model's metadata cannot be added (modes already shipped stay so).
    """
    from train.data import DataError, DataNotFoundError, load_fashion_mnist

    if not model_path.is_file():
        raise ConversionError(f"{model_path}: model file not found")
    try:
        data = load_fashion_mnist(options.data_dir)
    except (DataError, DataNotFoundError) as exc:
        raise ConversionError(str(exc)) from None

    import keras
    import tensorflow as tf

    from convert.compare import compare_predictions, gate_failures
    from convert.evaluation import HELD_OUT_PHOTOS, EvaluationDataError, fmnist_set, photo_set
    from convert.manifest import FMNIST_INPUT, PHOTO_INPUT, build_manifest, ship
    from convert.metadata import MetadataToolError
    from convert.replacement import Verdict, paired_with_shipped, photo_split, shipped_verdict
    from edge_runtime.interpreter.bundle import sha256_file
    from edge_runtime.interpreter.runner import ModelRunner
    from train.quantize import convert

    try:
        model = keras.models.load_model(model_path)
    except (ValueError, OSError) as exc:
        raise ConversionError(f"{model_path}: cannot load Keras model ({exc})") from None
    run = training_run(model_path)
    shape = tuple(model.inputs[0].shape[1:])
    photo = len(shape) == 3 and shape[-1] == 3
    names = [f"{options.name or model.name}_{mode}" for mode in options.quantization]
    try:
        evaluation = (photo_set(run, data, options.photos, shape[0], options.calibration_size,
                                options.seed) if photo
                      else fmnist_set(data, options.calibration_size, options.seed))
    except EvaluationDataError as exc:
        raise ConversionError(str(exc)) from None
    reference = model.predict(evaluation.inputs, batch_size=256, verbose=0).argmax(axis=1)
    provenance = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "source_model": str(model_path),
        "source_model_sha256": sha256_file(model_path),
        "data_sha256": data.sha256,
        "training": run.get("config"),
    }
    if photo:
        provenance |= {"weights": run.get("weights"),
                       "photo_list_sha256": (run.get("data") or {}).get("photo_list_sha256")}
    model_info = {"architecture": run.get("architecture", model.name),
                  "parameters": int(model.count_params())}
    tolerances = {"overall_pp": options.tolerance_pp,
                  "per_class_pp": options.per_class_tolerance_pp}
    crossval, loso = _recorded_figures(options)
    # The pictures a new model is paired with the shipped one on (convert.replacement).
    pairing = evaluation.parts[HELD_OUT_PHOTOS] if photo else slice(None)
    pictures = f"the held-out real photos ({int(pairing.sum())})" if photo else evaluation.description
    results = []

    def done(result: ModeResult) -> None:
        results.append(result)
        if report:
            report(result)

    for mode, name in zip(options.quantization, names):
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its graph
            model_bytes = convert(model, mode, evaluation.calibration)
        if photo:
            try:
                model_bytes = with_metadata(model_bytes, name, shape[0], mode != "int8")
            except (MetadataToolError, ValueError) as exc:
                raise ConversionError(f"{name}: cannot add metadata: {exc}") from None
        runner = ModelRunner(model_bytes)
        candidate = runner.probabilities_batch(evaluation.inputs).argmax(axis=1)
        comparison = compare_predictions(evaluation.labels, reference, candidate)
        measured = partial(ModeResult, name, len(model_bytes), comparison)
        failures = gate_failures(comparison, options.tolerance_pp, options.per_class_tolerance_pp)
        if failures:
            done(measured(GATED, "; ".join(failures)))
            continue
        parts = {part: compare_predictions(evaluation.labels[rows], reference[rows],
                                           candidate[rows])
                 for part, rows in evaluation.parts.items()}
        runtimes = probe_runtimes(model_bytes, options.legacy_python)
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
            if crossval["int8_drop_pp"] > options.tolerance_pp:
                done(measured(GATED, f"cross-validated int8 drop {crossval['int8_drop_pp']:.2f} "
                                     f"pp exceeds --tolerance-pp {options.tolerance_pp}"))
                continue
        alone = partial(paired_with_shipped, inputs=evaluation.inputs[pairing],
                        labels=evaluation.labels[pairing], candidate=candidate[pairing])
        verdict = (Verdict(False) if options.replace
                   else shipped_verdict(options.out, name, model_bytes, pictures, alone,
                                        photo_split(provenance) if photo else None))
        if verdict.keep_shipped:
            done(measured(KEPT, verdict.reason))
            continue
        path = ship(options.out, name, model_bytes, manifest)
        refused = tuple(b for b, r in runtimes.items() if r.get("loads") is False)
        done(measured(SHIPPED, verdict.reason, path, refused))
    return results
