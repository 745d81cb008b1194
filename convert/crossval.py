"""A photo model's figures from ``fashion-evaluate`` results files, for its manifest: the
cross-validated figures of its fold models, and the leave-one-source-out figures."""

from __future__ import annotations

import json
from pathlib import Path

from convert.evaluation import HELD_OUT_PHOTOS


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
            ["metrics"]["parts"][HELD_OUT_PHOTOS] for model in fold_models]
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
