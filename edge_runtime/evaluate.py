"""``fashion-evaluate``: score a classifier on a folder of labelled photos, one subfolder per class.

The folder layout is that of ``../shared/real-photos``: subfolder names are class names with
``/`` and spaces written as ``_`` (``T-shirt_top``, ``Ankle_boot``). Every photo is put in a
``dev`` or ``holdout`` part by a hash of its path, so a method tuned on ``dev`` is reported on
photos it was never tuned on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.inputs import IMAGE_SUFFIXES

HOLDOUT_FRACTION = 1 / 3
MIN_PER_CLASS = 25  # classes with fewer photos are reported but not scored


@dataclass(frozen=True)
class LabelledPhoto:
    """One photo, its true class id, and whether it belongs to the held-out part."""

    path: Path
    class_id: int
    holdout: bool


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def is_holdout(relative: str) -> bool:
    """Stable assignment of a photo to the held-out third, from its path within the folder."""
    return hashlib.sha256(relative.encode()).digest()[0] < 256 * HOLDOUT_FRACTION


def find_photos(folder: Path, labels: tuple[str, ...]) -> list[LabelledPhoto]:
    """All image files under per-class subfolders whose names match ``labels``."""
    by_key = {_key(label): i for i, label in enumerate(labels)}
    photos = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        class_id = by_key.get(_key(sub.name))
        if class_id is None:
            print(f"fashion-evaluate: warning: {sub}: not a class name, skipped", file=sys.stderr)
            continue
        for path in sorted(sub.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                rel = path.relative_to(folder).as_posix()
                photos.append(LabelledPhoto(path, class_id, is_holdout(rel)))
    return photos


def summarise(true: np.ndarray, top3: np.ndarray, labels, scored: np.ndarray) -> dict:
    """Top-1/top-3 over the scored classes, per-class accuracy and the confusion matrix."""
    from_scored = np.isin(true, scored)
    top1_hit = top3[:, 0] == true
    top3_hit = (top3 == true[:, None]).any(axis=1)
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    read = top3[:, 0] >= 0  # unreadable photos count as wrong but have no predicted column
    np.add.at(matrix, (true[read], top3[read, 0]), 1)
    per_class = {}
    for class_id, label in enumerate(labels):
        rows = true == class_id
        if rows.any():
            per_class[label] = {"n": int(rows.sum()), "top1": float(top1_hit[rows].mean()),
                                "top3": float(top3_hit[rows].mean()),
                                "scored": bool(class_id in scored)}
    n = int(from_scored.sum())
    return {
        "n": n,
        "top1": float(top1_hit[from_scored].mean()) if n else 0.0,
        "top3": float(top3_hit[from_scored].mean()) if n else 0.0,
        "worst_class_top1": min((v["top1"] for v in per_class.values() if v["scored"]),
                                default=0.0),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def format_report(name: str, summary: dict, labels) -> str:
    """A text report: overall figures, per-class table, confusion matrix."""
    lines = [f"{name}: {summary['n']} photos in scored classes, top-1 {summary['top1']:.1%}, "
             f"top-3 {summary['top3']:.1%}, worst class {summary['worst_class_top1']:.1%}"]
    for label, row in summary["per_class"].items():
        flag = "" if row["scored"] else "  (too few photos: not scored)"
        lines.append(f"  {label:<12} n={row['n']:<3} top-1 {row['top1']:6.1%}  "
                     f"top-3 {row['top3']:6.1%}{flag}")
    short = [label[:5] for label in labels]
    lines.append("  confusion (rows true, columns predicted): " + " ".join(f"{s:>5}" for s in short))
    for label, row in zip(labels, summary["confusion_matrix"]):
        if sum(row):
            lines.append(f"  {label:<12}" + " " * 30 + " ".join(f"{v:>5}" for v in row))
    return "\n".join(lines)


def evaluate(classifier, photos: list[LabelledPhoto], save_dir: Path | None = None) -> dict:
    """Classify every photo and time it; returns the top-3 class ids (-1 for a photo that could
    not be read: it counts as wrong, with its one-line reason on stderr) and seconds per photo."""
    from edge_runtime import imaging
    from edge_runtime.batch import save_prepared
    from edge_runtime.preprocess import PHOTO_DECODE_MIN_SIDE

    top3, seconds = [], []
    for index, photo in enumerate(photos):
        start = time.perf_counter()
        try:
            prepared = classifier.prepare(imaging.read_image(photo.path, PHOTO_DECODE_MIN_SIDE))
        except imaging.ImageDecodeError as exc:
            print(f"fashion-evaluate: error: {exc}", file=sys.stderr)
            top3.append(np.full(3, -1))
            continue
        probabilities = classifier.probabilities(prepared)
        seconds.append(time.perf_counter() - start)
        top3.append(np.argsort(-probabilities)[:3])
        if save_dir is not None:
            save_prepared(save_dir, index, photo.path, prepared)
    return {"top3": np.array(top3), "seconds": np.array(seconds)}


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-evaluate``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="fashion-evaluate",
        description="Score a model on a folder of labelled photos (one subfolder per class): "
        "top-1, top-3, per-class accuracy, confusion matrix, time per photo; for all photos and "
        "for the dev and held-out parts.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", type=Path,
                        help="default: the shipped int8 models (the photo-robust one for photos)")
    parser.add_argument("--photo-model", type=Path,
                        help="model for photo-path inputs (default: --model, or the shipped "
                        "photo-robust model when --model is not given)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--preprocess", default="photo", choices=["auto", "fmnist", "photo"])
    parser.add_argument("--min-per-class", type=int, default=MIN_PER_CLASS,
                        help="classes with fewer photos are reported but not scored "
                        "(default %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write report.txt, results.json and confusion_matrix.png here")
    parser.add_argument("--save-inputs", type=Path, metavar="DIR",
                        help="write the 28x28 input (and mask) the model saw for each photo")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder}: not a directory")
    from edge_runtime.classifier import Classifier

    with Classifier(args.model, args.backend, preprocess=args.preprocess,
                    photo_model=args.photo_model) as clf:
        labels = clf.bundle.labels
        photos = find_photos(args.folder, labels)
        if not photos:
            print(f"fashion-evaluate: error: {args.folder}: no photos in class subfolders",
                  file=sys.stderr)
            return 1
        result = evaluate(clf, photos, args.save_inputs)
        model_name = clf.photo_bundle.name if args.preprocess == "photo" else clf.bundle.name
    true = np.array([p.class_id for p in photos])
    counts = np.bincount(true, minlength=len(labels))
    scored = np.flatnonzero(counts >= args.min_per_class)
    holdout = np.array([p.holdout for p in photos])
    parts = {"all": np.ones(len(photos), bool), "dev": ~holdout, "holdout": holdout}
    summaries = {name: summarise(true[rows], result["top3"][rows], labels, scored)
                 for name, rows in parts.items()}
    ms = result["seconds"] * 1000
    timing = {"mean_ms": float(ms.mean()), "p50_ms": float(np.median(ms)),
              "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max())}
    report = "\n\n".join(format_report(f"{name} ({model_name}, {args.preprocess})", s, labels)
                         for name, s in summaries.items())
    report += (f"\n\ntime per photo (decode + prepare + classify, one thread): mean "
               f"{timing['mean_ms']:.1f} ms, p50 {timing['p50_ms']:.1f} ms, "
               f"p95 {timing['p95_ms']:.1f} ms, max {timing['max_ms']:.1f} ms\n")
    print(report)
    if args.out:
        from edge_runtime import imaging

        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.txt").write_text(report)
        payload = {"model": model_name, "preprocess": args.preprocess, "timing": timing,
                   "labels": list(labels), "parts": summaries}
        (args.out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
        png = imaging.render_confusion_matrix(np.array(summaries["all"]["confusion_matrix"]),
                                              labels, f"{model_name} on {args.folder.name}")
        (args.out / "confusion_matrix.png").write_bytes(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
