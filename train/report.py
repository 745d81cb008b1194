"""Evaluate a trained model on the test set and write the run's files: model, metrics, plots."""

from __future__ import annotations

import dataclasses
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import keras
import matplotlib
import numpy as np
import tensorflow as tf

from edge_runtime.media.atomic_files import atomic_path, write_text_atomic
from train import metrics, plots
from train.data import CLASS_NAMES, FashionMNIST
from train.config import TrainConfig
from train.model import DESCRIPTIONS
from train.training import TrainResult

MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
REPORT_FILE = "classification_report.txt"
PLOT_FILES = {
    "confusion_matrix": "confusion_matrix.png",
    "learning_curves": "learning_curves.png",
    "per_class_recall": "per_class_recall.png",
}


def library_versions() -> dict[str, str]:
    """Versions that decide a result, recorded so a run can be reproduced."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "matplotlib": matplotlib.__version__,
    }


def evaluate(model: keras.Model, data: FashionMNIST) -> dict:
    """Test-set accuracy, loss, confusion matrix and per-class scores of ``model``."""
    probabilities = model.predict(data.test.images, batch_size=1000, verbose=0)
    predicted = probabilities.argmax(axis=1)
    labels = data.test.labels
    picked = probabilities[np.arange(len(labels)), labels]
    matrix = metrics.confusion_matrix(labels, predicted)
    scores = metrics.per_class_scores(matrix)
    return {
        "test_accuracy": float((predicted == labels).mean()),
        "test_loss": float(-np.log(np.clip(picked, 1e-7, 1.0)).mean()),
        "confusion_matrix": matrix.tolist(),
        "per_class": {
            name: {key: float(scores[key][i]) for key in ("precision", "recall", "f1")}
            | {"support": int(scores["support"][i])}
            for i, name in enumerate(CLASS_NAMES)
        },
    }


def write_run(out_dir: Path, result: TrainResult, data: FashionMNIST, config: TrainConfig) -> dict:
    """Save the model, ``metrics.json``, the text report and the plots in ``out_dir``.

    Every file is written atomically, the model first, so an interrupted run keeps the files it
    finished and never leaves a partial one. Returns the metrics dictionary.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        result.model.save(tmp)
    evaluation = evaluate(result.model, data)
    matrix = np.array(evaluation["confusion_matrix"])
    report = {
        "architecture": DESCRIPTIONS[config.arch],
        "parameters": int(result.model.count_params()),
        **evaluation,
        "history": {k: [float(v) for v in vs] for k, vs in result.history.items()},
        "epochs_run": len(result.history["loss"]),
        "best_epoch": int(np.argmax(result.history["val_accuracy"])) + 1,
        "train_duration_s": round(result.duration_s, 2),
        "n_train": result.n_train,
        "n_validation": result.n_validation,
        "n_test": len(data.test.labels),
        "config": dataclasses.asdict(config),
        "seed": config.seed,
        "data": {"directory": str(data.directory), "sha256": data.sha256},
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "labels": list(CLASS_NAMES),
    }
    write_text_atomic(out_dir / METRICS_FILE, json.dumps(report, indent=2) + "\n")
    write_text_atomic(out_dir / REPORT_FILE, metrics.classification_report(matrix, CLASS_NAMES))
    recall = metrics.per_class_scores(matrix)["recall"]
    title = (f"Confusion matrix ({config.arch.upper()}), test accuracy "
             f"{evaluation['test_accuracy']:.2%}")
    for key, writer in (
        ("confusion_matrix", lambda p: plots.plot_confusion_matrix(matrix, CLASS_NAMES, p, title)),
        ("learning_curves", lambda p: plots.plot_learning_curves(result.history, p)),
        ("per_class_recall", lambda p: plots.plot_per_class_recall(recall, CLASS_NAMES, p)),
    ):
        with atomic_path(out_dir / PLOT_FILES[key]) as tmp:
            writer(tmp)
    return report
