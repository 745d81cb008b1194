"""One row of the table (a model on one interpreter), measured in a process of its own.

Each row runs in a fresh ``python -m benchmark.worker`` so that process-level figures are
honest and a runtime that lives in another virtual environment (tflite-runtime, through
``--legacy-python``) is measured the same way. TensorFlow is imported only by the worker of a
Keras row, so the benchmark also runs on a device without it.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmark.stats import FULL, Effort, percentiles, rate, spread
from edge_runtime.interpreter.backend import BACKENDS
from edge_runtime.interpreter.runner import BATCH_SIZE

BATCH = BATCH_SIZE  # images per invoke in the batch figures, as the runtime batches
ROOT = Path(__file__).resolve().parent.parent


def _keras_row(model_path: Path, test, effort: Effort) -> dict:
    import tensorflow as tf  # only the Keras rows' workers pay for TensorFlow

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    load_ms = []
    for _ in range(effort.repeats):
        start = time.perf_counter()
        model = keras.models.load_model(model_path)
        load_ms.append((time.perf_counter() - start) * 1000)
    batch = test.images[:effort.throughput_images]
    return {
        "predicted": model.predict(test.images, batch_size=BATCH, verbose=0).argmax(axis=1),
        "load_ms": spread(load_ms),
        "latency_us": percentiles(lambda x: model(x[None], training=False).numpy(),
                                  test.images[:effort.latency_invokes], effort.warmup_invokes,
                                  effort.repeats),
        "batch_ips": rate(lambda: model.predict(batch, batch_size=BATCH, verbose=0),
                          len(batch), effort.repeats),
    }


def _interpreter_row(model_path: Path, backend: str, test, effort: Effort) -> dict:
    """The bare interpreter (set_tensor + invoke + get_tensor on inputs already in the model's
    dtype) and the whole call (``Classifier.classify`` on a 28x28 uint8 image), one image at a
    time and in batches, both on one thread."""
    from edge_runtime.classifier import Classifier
    from edge_runtime.interpreter.backend import create_interpreter
    from edge_runtime.interpreter.runner import ModelRunner
    from edge_runtime.interpreter.tensors import read_specs, to_input

    load_ms = []
    for _ in range(effort.repeats):
        start = time.perf_counter()
        interpreter = create_interpreter(model_path, backend, num_threads=1).interpreter
        load_ms.append((time.perf_counter() - start) * 1000)
    in_spec, out_spec = read_specs(interpreter, str(model_path))
    shape = in_spec.shape[1:]
    inputs = to_input(test.images, in_spec).reshape(len(test.images), 1, *shape)
    set_tensor, invoke, get_tensor = (interpreter.set_tensor, interpreter.invoke,
                                      interpreter.get_tensor)
    i_in, i_out = in_spec.index, out_spec.index

    def bare(x):
        set_tensor(i_in, x)
        invoke()
        return get_tensor(i_out)

    latency = percentiles(bare, inputs[:effort.latency_invokes], effort.warmup_invokes,
                          effort.repeats)
    interpreter.resize_tensor_input(i_in, [BATCH, *shape])
    interpreter.allocate_tensors()
    chunks = [inputs[i : i + BATCH, 0] for i in range(0, effort.throughput_images, BATCH)]

    def bare_batches():
        for chunk in chunks:
            bare(chunk)

    batch_ips = rate(bare_batches, effort.throughput_images, effort.repeats)
    predicted = ModelRunner(model_path, backend, 1).probabilities_batch(test.images).argmax(axis=1)
    with Classifier(model_path, backend=backend, num_threads=1) as clf:
        classify = percentiles(clf.classify, test.images[:effort.latency_invokes],
                               effort.warmup_invokes, effort.repeats)
        images = list(test.images[:effort.throughput_images])
        classify_batch_ips = rate(lambda: clf.classify_batch(images), len(images),
                                  effort.repeats)
    return {"predicted": predicted, "load_ms": spread(load_ms), "latency_us": latency,
            "batch_ips": batch_ips, "classify_us": classify,
            "classify_batch_ips": classify_batch_ips}


def _photo_top1(model_path: Path, backend: str, folder: Path) -> float:
    """Top-1 on the scored classes of a labelled photo folder, as ``fashion-evaluate`` counts it."""
    from edge_runtime.apps.evaluate import evaluate, summarise
    from edge_runtime.classifier import Classifier
    from edge_runtime.photo.folds import MIN_PER_CLASS, find_photos

    with Classifier(model_path, backend=backend, num_threads=1, preprocess="photo") as clf:
        labels = clf.bundle.labels
        photos = find_photos(folder, labels)
        result = evaluate(clf, photos)
    true = np.array([p.class_id for p in photos])
    scored = np.flatnonzero(np.bincount(true, minlength=len(labels)) >= MIN_PER_CLASS)
    return summarise(true, result["predicted"], result["top3"], labels, scored)["top1"]


def measure_row(model_path: Path, backend: str, photos: Path | None,
                effort: Effort = FULL) -> dict:
    """Measure one (model, backend) row in this process; returns a JSON-ready dict."""
    from edge_runtime.interpreter.probe import backend_version
    from train.data import load_fashion_mnist

    test = load_fashion_mnist().test
    result = (_keras_row(model_path, test, effort) if backend == "keras"
              else _interpreter_row(model_path, backend, test, effort))
    result["predicted"] = result["predicted"].tolist()
    result |= {"python": platform.python_version(), "numpy": np.__version__,
               "runtime_version": backend_version("tensorflow" if backend == "keras"
                                                  else backend)}
    if photos is not None and backend != "keras":
        result["photo_top1"] = _photo_top1(model_path, backend, photos)
    return result


def run_worker(python: str, model: Path, backend: str, photos: Path | None,
               effort: Effort = FULL) -> dict:
    """:func:`measure_row` in a fresh process of ``python``; a load failure is a row (with its
    ``error``), not a crash."""
    cmd = [python, "-m", "benchmark.worker", str(model), backend]
    if photos is not None:
        cmd += ["--photos", str(photos)]
    if effort != FULL:
        cmd += ["--effort", json.dumps(asdict(effort))]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else "worker failed"
        # "ModelLoadError: /path: tflite-runtime cannot load the model: <why>" -> "<why>"
        return {"error": reason.split("cannot load the model: ")[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Measure one row and print it as one line of JSON (what :func:`run_worker` reads)."""
    parser = argparse.ArgumentParser(prog="python -m benchmark.worker",
                                     description="Measure one model on one interpreter.")
    parser.add_argument("model", type=Path)
    parser.add_argument("backend", choices=[*BACKENDS, "keras"])
    parser.add_argument("--photos", type=Path, help="labelled photo folder: real-photo top-1")
    parser.add_argument("--effort", type=lambda text: Effort(**json.loads(text)), default=FULL,
                        help="how long every measurement runs, as JSON (default: the full runs)")
    args = parser.parse_args(argv)
    print(json.dumps(measure_row(args.model, args.backend, args.photos, args.effort)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
