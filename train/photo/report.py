"""The photo model run's files: model, metrics, report and plots, on pictures it never saw.

Two measurements: the held-out fold of the evaluation photos (as shot, once each) and
Fashion-MNIST test garments rendered as product shots and casual photos.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.labels import FASHION_MNIST_LABELS
from edge_runtime.media.atomic_files import atomic_path, write_text_atomic
from train import metrics, plots
from train.photo.config import PhotoTrainConfig
from train.photo.photo_list import holdout_text, photo_list_sha256
from train.photo.pretrained import DISTRIBUTION, FILE_IN_DISTRIBUTION, SHA256, VERSION
from train.photo.training import PhotoTrainResult
from train.report import METRICS_FILE, MODEL_FILE, PLOT_FILES, REPORT_FILE, library_versions


def scores(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Top-1, top-3, per-class top-1 and the confusion matrix of one set of pictures."""
    predicted = probabilities.argmax(axis=1)
    top3 = np.argsort(-probabilities, axis=1)[:, :3]
    matrix = metrics.confusion_matrix(labels, predicted)
    recall = metrics.per_class_scores(matrix)["recall"]
    present = np.bincount(labels, minlength=len(FASHION_MNIST_LABELS)) > 0
    return {"n": int(len(labels)),
            "top1": float((predicted == labels).mean()) if len(labels) else 0.0,
            "top3": float((top3 == labels[:, None]).any(axis=1).mean()) if len(labels) else 0.0,
            "per_class_top1": {name: float(recall[i])
                               for i, name in enumerate(FASHION_MNIST_LABELS) if present[i]},
            "confusion_matrix": matrix.tolist()}


def write_photo_run(out_dir: Path, result: PhotoTrainResult, config: PhotoTrainConfig,
                    photos_root: Path, photo_list: Path) -> dict:
    """Save the model, ``metrics.json``, the text report and the plots in ``out_dir``, each
    atomically, the model first. Returns the metrics dictionary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        result.model.save(tmp)
    held = scores(result.held_out["labels"], result.held_out["probabilities"])
    what = holdout_text(config.holdout_fold, config.holdout_source)
    rendered = scores(result.rendered_test["labels"], result.rendered_test["probabilities"])
    report = {
        "architecture": "efficientnet-lite0 + head",
        "held_out_photos": held | {"fold": config.holdout_fold, "source": config.holdout_source},
        "rendered_test_garments": rendered,
        "history": {k: [float(v) for v in vs] for k, vs in result.history.items()},
        "train_duration_s": round(result.duration_s, 2),
        "n_photos": result.n_photos, "n_renders": result.n_renders,
        "n_train_views": result.n_train_views,
        "config": dataclasses.asdict(config),
        # What the model learnt from, by content: the photo list's and the weights' sha256.
        "data": {"photos": str(photos_root), "photo_list": str(photo_list),
                 "photo_list_sha256": photo_list_sha256(photo_list)},
        "weights": {"distribution": f"{DISTRIBUTION}=={VERSION}",
                    "file": FILE_IN_DISTRIBUTION, "sha256": SHA256},
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "labels": list(FASHION_MNIST_LABELS),
    }
    write_text_atomic(out_dir / METRICS_FILE, json.dumps(report, indent=2) + "\n")
    matrix = np.array(held["confusion_matrix"])
    write_text_atomic(out_dir / REPORT_FILE,
                      f"held-out photos ({what}), as shot\n\n"
                      + metrics.classification_report(matrix, FASHION_MNIST_LABELS))
    recall = metrics.per_class_scores(matrix)["recall"]
    title = f"Held-out photos ({what}), top-1 {held['top1']:.1%}"
    for key, writer in (
        ("confusion_matrix",
         lambda p: plots.plot_confusion_matrix(matrix, FASHION_MNIST_LABELS, p, title)),
        ("learning_curves", lambda p: plots.plot_learning_curves(result.history, p)),
        ("per_class_recall",
         lambda p: plots.plot_per_class_recall(recall, FASHION_MNIST_LABELS, p)),
    ):
        with atomic_path(out_dir / PLOT_FILES[key]) as tmp:
            writer(tmp)
    return report
