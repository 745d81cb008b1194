"""A whole benchmark run: every model variant of both architectures on every interpreter (one
worker process per row), then ``fashion-classify`` end to end, the live loop's frames, and the
photo model's figures (beside MediaPipe's where it is installed). Figures only: how they compare
with any limits is :mod:`benchmark.limits`' business."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmark.frames import live_figures, write_test_video
from benchmark.mediapipe import mediapipe_figures
from benchmark.photo import photo_figures
from benchmark.processes import cli_figures, cold_start
from benchmark.report import ARCHITECTURES
from benchmark.stats import FULL, Effort
from benchmark.worker import run_worker
from edge_runtime.interpreter.backend import BACKENDS

VARIANTS = ("float32", "float16", "dynamic", "int8")


@dataclass(frozen=True)
class BenchOptions:
    """What a run measures and where its scratch inputs go.

    Attributes:
        models: folder of ``NAME.tflite`` bundles (default: the shipped models).
        keras_models: each architecture's Keras model (``mlp``, ``cnn``), for its reference row;
            a missing file leaves the row out.
        legacy_python: python of a tflite-runtime environment, for its rows.
        photos: labelled photo folder for the real-photo column and the test video.
        mediapipe_python: python of an environment with mediapipe, to time its ImageClassifier
            beside Classifier.
        out: where the scratch inputs (PNGs, video, photos) are written.
        effort: how long every measurement runs.
    """

    models: Path | None = None
    keras_models: tuple[tuple[str, Path], ...] = ()
    legacy_python: Path | None = None
    photos: Path | None = None
    mediapipe_python: Path | None = None
    out: Path = Path("bench")
    effort: Effort = FULL


def planned_rows(models: Path, keras_models: dict[str, Path], legacy_python: Path | None):
    """(name, architecture, variant, backend, model path, python) for every row to measure:
    each architecture's Keras model, then its variants on every runtime."""
    from edge_runtime.interpreter.backend import available_backends

    rows, installed = [], available_backends()
    for arch in ARCHITECTURES:
        if arch in keras_models and "tensorflow" in installed:
            rows.append((f"{arch} keras", arch, "float32", "keras", keras_models[arch],
                         sys.executable))
        for variant in VARIANTS:
            path = models / f"fashion_{arch}_{variant}.tflite"
            if not path.is_file():
                continue
            for backend in installed:
                rows.append((f"{arch} {variant}/{backend}", arch, variant, backend, path,
                             sys.executable))
            if legacy_python is not None:
                rows.append((f"{arch} {variant}/tflite-runtime", arch, variant,
                             "tflite-runtime", path, str(legacy_python)))
    return rows


def converted_from(bundle: Path, keras_accuracy: float) -> bool:
    """Whether ``bundle`` may have been converted from the Keras model that read
    ``keras_accuracy`` of the test set right: its manifest recorded its source's accuracy on the
    same images. Only then is the difference between the two a conversion's drop; a Keras model
    retrained on another CPU reads a different number of them right. (The model files cannot
    tell: a .keras file records when it was saved.)"""
    from edge_runtime.interpreter.bundle import manifest_path

    try:
        metrics = json.loads(manifest_path(bundle).read_text(encoding="utf-8"))["metrics"]
        recorded = float(metrics["keras_accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return recorded == round(keras_accuracy, 4)  # as the manifest records it


def machine() -> dict:
    """CPU model, cores, Python: the context every figure belongs to."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from edge_runtime.interpreter.probe import backend_version, installed_version

    versions = {name: backend_version(name) for name in BACKENDS}
    versions |= {"numpy": np.__version__,
                 "opencv": installed_version("opencv-python-headless", "opencv-python")}
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _write_pngs(folder: Path, images: np.ndarray) -> None:
    """The 28x28 test images as PNGs, in place of any an earlier run left."""
    from edge_runtime.media.image_io import encode_png

    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    for i, image in enumerate(images):
        (folder / f"{i:05d}.png").write_bytes(encode_png(image))


def _measure_rows(options: BenchOptions, test, one_png: Path,
                  progress: Callable[[str], None]) -> list[dict]:
    """Every planned row in its own worker, with its size, accuracy, cold start and (for a
    TFLite row) its comparison with the same architecture's Keras row."""
    from convert.compare import compare_predictions
    from edge_runtime.interpreter.bundle import models_dir

    plan = planned_rows(options.models or models_dir(), dict(options.keras_models),
                        options.legacy_python)
    rows, predictions, paths = [], {}, {}
    for index, (name, arch, variant, backend, path, python) in enumerate(plan, 1):
        progress(f"[{index}/{len(plan)}] {name} ...")
        paths[name] = path
        row = {"name": name, "arch": arch, "variant": variant, "backend": backend}
        row |= run_worker(python, path, backend,
                          options.photos if backend != "keras" else None, options.effort)
        if "error" not in row:
            predictions[name] = np.array(row.pop("predicted"))
            row["size_kb"] = path.stat().st_size / 1024
            row["accuracy"] = float((predictions[name] == test.labels).mean())
            row["cold"] = cold_start(python, path, backend, one_png, options.effort.repeats)
        rows.append(row)
    for row in rows:
        keras = f"{row['arch']} keras"
        reference = predictions.get(keras)
        if row["backend"] == "keras" or reference is None or row["name"] not in predictions:
            continue
        if converted_from(paths[row["name"]], float((reference == test.labels).mean())):
            row["vs_keras"] = compare_predictions(test.labels, reference,
                                                  predictions[row["name"]]).as_dict()
        else:
            row["vs_keras_skipped"] = f"not converted from {paths[keras]}"
    return rows


def run_benchmark(options: BenchOptions = BenchOptions(),
                  progress: Callable[[str], None] = lambda line: None) -> dict:
    """Measure everything ``options`` names; returns the ``results.json`` payload (machine,
    rows, ``cli``, ``live``, ``photo_model``, effort). ``progress`` hears each step begin."""
    from edge_runtime.interpreter.bundle import PHOTO_MODEL_NAME, models_dir
    from train.data import load_fashion_mnist

    effort = options.effort
    test = load_fashion_mnist().test
    options.out.mkdir(parents=True, exist_ok=True)
    png_dir = options.out / "pngs"
    _write_pngs(png_dir, test.images[:effort.pngs])
    one_png = png_dir / "00000.png"
    rows = _measure_rows(options, test, one_png, progress)
    progress("[cli] fashion-classify end to end ...")
    cli = cli_figures(sys.executable, png_dir, one_png, options.out / "cli.jsonl", effort.repeats)
    progress("[live] 640x480 frames through the live loop ...")
    live = live_figures(write_test_video(options.out / "frames.avi", options.photos,
                                         effort.frames))
    photo_model = (options.models or models_dir()) / f"{PHOTO_MODEL_NAME}.tflite"
    photo = None
    if photo_model.is_file():
        progress(f"[photo] {photo_model.name}: frames, photo decoding, fashion-classify ...")
        photo = photo_figures(sys.executable, photo_model, options.out, options.photos, effort)
        if options.photos is not None and options.mediapipe_python is not None:
            progress("[mediapipe] the same photos through MediaPipe's ImageClassifier ...")
            photo["mediapipe"] = mediapipe_figures(options.mediapipe_python, photo_model,
                                                   options.photos, options.out,
                                                   passes=effort.repeats)
    return {"machine": machine(), "effort": asdict(effort), "rows": rows, "cli": cli,
            "live": live, "photo_model": photo}
