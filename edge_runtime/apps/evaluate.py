"""``fashion-evaluate``: score a classifier on folders of labelled photos, one subfolder per class.

Every photo belongs to one of three folds (:mod:`edge_runtime.photo.folds`); one fold is the
``holdout`` part, the others ``dev``, so a method tuned or trained on ``dev`` is reported on
photos it never saw. With ``--fold-models`` each fold is scored by a model that was trained
without it (cross-validation), which gives an unseen-photo figure for every photo. Each folder is
one photo source, reported apart (and side by side when there are several); ``--source-model``
scores a folder with a model that never saw its source at all (leave one source out).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_runtime.photo.folds import FOLDS, HOLDOUT_FOLD, MIN_PER_CLASS, LabelledPhoto, find_photos
from edge_runtime.photo.preprocess import MODES


def summarise(true: np.ndarray, predicted: np.ndarray, top3: np.ndarray, labels,
              scored: np.ndarray) -> dict:
    """Top-1 (the decided label) and top-3 (the candidates) over the scored classes, per-class
    accuracy and the confusion matrix; a photo without a label (-1) counts as wrong and has no
    predicted column."""
    from_scored = np.isin(true, scored)
    top1_hit = predicted == true
    top3_hit = (top3 == true[:, None]).any(axis=1)
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    labelled = predicted >= 0
    np.add.at(matrix, (true[labelled], predicted[labelled]), 1)
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
        "unlabelled": int((~labelled).sum()),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def format_report(name: str, summary: dict, labels) -> str:
    """A text report: overall figures, per-class table, confusion matrix."""
    lines = [f"{name}: {summary['n']} photos in scored classes, top-1 {summary['top1']:.1%}, "
             f"top-3 {summary['top3']:.1%}, worst class {summary['worst_class_top1']:.1%}; "
             f"{summary['unlabelled']} photos without a label (unreadable or no garment found)"]
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


def evaluate(classifier, photos: list[LabelledPhoto], save_dir: Path | None = None,
             indices: list[int] | None = None) -> dict:
    """Classify every photo through ``fashion-classify``'s own loop, so the score is that of the
    records it prints. Returns per photo the decided class id and the top-3 candidate ids (-1
    where there are none: an unreadable photo, whose one-line reason goes to stderr, or no
    garment found), and the seconds each readable photo took (decode, prepare, classify).
    ``indices`` number the saved inputs (default: the position in ``photos``)."""
    from edge_runtime.apps.batch import classify_files
    from edge_runtime.media.inputs import InputItem

    records = classify_files(classifier, [InputItem(p.path) for p in photos], save_dir, indices)
    predicted, top3, seconds = [], [], []
    while True:
        start = time.perf_counter()
        record = next(records, None)
        if record is None:
            break
        if "error" in record or "skipped" in record:  # a photo's name, and no image inside
            reason = record.get("error") or f"{record['path']}: {record['skipped']}"
            print(f"fashion-evaluate: error: {reason}", file=sys.stderr)
        else:
            seconds.append(time.perf_counter() - start)
        candidates = [c["class_id"] for c in record.get("top_k", [])][:3]
        top3.append(candidates + [-1] * (3 - len(candidates)))
        predicted.append(-1 if record.get("class_id") is None else record["class_id"])
    return {"predicted": np.array(predicted, int), "top3": np.array(top3, int).reshape(-1, 3),
            "seconds": np.array(seconds)}


def trained_on_photos(bundle) -> bool:
    """Whether the model's manifest says real photos (the photo list's, all but the held-out
    fold) were in its training data."""
    return bool(((bundle.manifest or {}).get("provenance") or {}).get("photo_list_sha256"))


def score_photos(photos: list[LabelledPhoto], args: argparse.Namespace,
                 source_model: Path | None = None):
    """Decided and top-3 class ids and seconds per photo, the model names used, and whether a
    photo model was trained on real photos. ``source_model`` scores every photo; else under
    ``--fold-models`` each fold is scored by its own model."""
    from edge_runtime.classifier import Classifier

    everything = list(range(len(photos)))
    if source_model is not None:
        passes = [(source_model, everything)]
    elif args.fold_models:
        passes = [(model, [i for i, p in enumerate(photos) if p.fold == k])
                  for k, model in enumerate(args.fold_models)]
    else:
        passes = [(args.photo_model, everything)]
    predicted, top3 = np.full(len(photos), -1), np.full((len(photos), 3), -1)
    seconds, names, seen = [], [], False
    for photo_model, rows in passes:
        with Classifier(args.model, backend=args.backend, preprocess=args.preprocess,
                        photo_model=photo_model, threshold=args.threshold) as clf:
            result = evaluate(clf, [photos[i] for i in rows], args.save_inputs, rows)
            used = clf.bundle if args.preprocess == "fmnist" else clf.photo_bundle
            names.append(used.name)
            seen = seen or (args.preprocess != "fmnist" and trained_on_photos(clf.photo_bundle))
        predicted[rows], top3[rows] = result["predicted"], result["top3"]
        seconds.extend(result["seconds"])
    return predicted, top3, np.array(seconds), names, seen


class NoPhotosError(ValueError):
    """A folder holds no photos in class subfolders."""


def evaluate_folder(folder: Path, labels, args: argparse.Namespace,
                    source_model: Path | None = None) -> tuple[dict, str]:
    """Score one folder of labelled photos: the results payload and its text report.
    NoPhotosError when it holds none; the model errors of :class:`Classifier` pass through."""
    photos = find_photos(folder, labels)
    if not photos:
        raise NoPhotosError(f"{folder}: no photos in class subfolders")
    predicted, top3, seconds, names, seen = score_photos(photos, args, source_model)
    if source_model is not None:
        model_name = f"{names[0]} (never saw this source)"
    else:
        model_name = f"cross-validated {', '.join(names)}" if args.fold_models else names[0]
    true = np.array([p.class_id for p in photos])
    counts = np.bincount(true, minlength=len(labels))
    scored = np.flatnonzero(counts >= args.min_per_class)
    holdout = np.array([p.fold == args.holdout_fold for p in photos])
    parts = {"all": np.ones(len(photos), bool), "dev": ~holdout, "holdout": holdout}
    summaries = {name: summarise(true[rows], predicted[rows], top3[rows], labels, scored)
                 for name, rows in parts.items()}
    ms = seconds * 1000
    timing = ({"mean_ms": float(ms.mean()), "p50_ms": float(np.median(ms)),
               "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max())}
              if len(ms) else {})
    report = "\n\n".join(format_report(f"{folder.name} {name} ({model_name}, {args.preprocess})",
                                       s, labels)
                         for name, s in summaries.items())
    if seen and not args.fold_models and source_model is None:
        report += ("\n\nnote: this model was trained on the dev part of real photos; if that "
                   "was this folder, only 'holdout' (or --fold-models) measures unseen photos")
    if timing:
        report += (f"\n\ntime per photo (decode + prepare + classify, one thread): mean "
                   f"{timing['mean_ms']:.1f} ms, p50 {timing['p50_ms']:.1f} ms, "
                   f"p95 {timing['p95_ms']:.1f} ms, max {timing['max_ms']:.1f} ms")
    payload = {"model": model_name, "preprocess": args.preprocess, "timing": timing,
               "labels": list(labels), "holdout_fold": args.holdout_fold,
               "trained_on_dev_photos": seen, "parts": summaries,
               "fold_models": [] if source_model is not None
               else [str(m) for m in args.fold_models or []],
               "source_model": None if source_model is None else str(source_model)}
    return payload, report


def format_sources(results: dict[str, dict]) -> str:
    """Several folders side by side: photos scored, top-1, top-3 and the worst class of each."""
    lines = [f"{'source':<20} {'photos':>6} {'top-1':>7} {'top-3':>7}  worst class  model"]
    for name, payload in results.items():
        every = payload["parts"]["all"]
        scored = {label: row for label, row in every["per_class"].items() if row["scored"]}
        worst = min(scored, key=lambda label: scored[label]["top1"], default=None)
        worst_text = f"{worst} {scored[worst]['top1']:.1%}" if worst else "-"
        lines.append(f"{name:<20} {every['n']:>6} {every['top1']:>7.1%} {every['top3']:>7.1%}  "
                     f"{worst_text}  {payload['model']}")
    return "\n".join(lines)


def _source_models(values: list[str], parser: argparse.ArgumentParser) -> dict[str, Path]:
    """``NAME=MODEL`` pairs as a dictionary; a usage error for a malformed one."""
    pairs = {}
    for value in values:
        name, sep, model = value.partition("=")
        if not sep or not name or not model:
            parser.error(f"--source-model {value!r}: expected NAME=MODEL")
        pairs[name] = Path(model)
    return pairs


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-evaluate``."""
    parser = argparse.ArgumentParser(
        prog="fashion-evaluate",
        description="Score a model on folders of labelled photos (one subfolder per class; each "
        "folder one photo source): top-1, top-3, per-class accuracy, confusion matrix, time per "
        "photo; for all photos and for the dev and held-out parts; several folders side by "
        "side.")
    parser.add_argument("folders", type=Path, nargs="+", metavar="FOLDER")
    parser.add_argument("--model", type=Path,
                        help="default: the shipped int8 models (the photo model for photos)")
    parser.add_argument("--photo-model", type=Path,
                        help="model for photo-path inputs (default: --model, or the shipped "
                        "photo model when --model is not given)")
    parser.add_argument("--fold-models", type=Path, nargs=FOLDS, metavar="MODEL",
                        help=f"cross-validation: {FOLDS} photo models, the k-th trained without "
                        "fold k (fashion-train --arch photo-lite0 --holdout-fold k); each fold is "
                        "scored by its own model, so every photo counts as unseen")
    parser.add_argument("--source-model", action="append", default=[], metavar="NAME=MODEL",
                        help="leave one source out: score the folder named NAME with MODEL, a "
                        "photo model that never saw that source (fashion-train --holdout-source "
                        "NAME); repeatable")
    parser.add_argument("--holdout-fold", type=int, default=HOLDOUT_FOLD,
                        choices=range(FOLDS), help="the fold reported as 'holdout' "
                        "(default %(default)s)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threshold", type=float, default=0.0, metavar="T",
                        help="as fashion-classify's: a top score below T gives no label (wrong)")
    parser.add_argument("--preprocess", default="auto", choices=MODES,
                        help="as fashion-classify's (default %(default)s: photos take the photo path)")
    parser.add_argument("--min-per-class", type=int, default=MIN_PER_CLASS,
                        help="classes with fewer photos are reported but not scored "
                        "(default %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write report.txt, results.json and confusion_matrix.png here "
                        "(several folders: one results.json, a matrix per folder)")
    parser.add_argument("--save-inputs", type=Path, metavar="DIR",
                        help="write the input (and mask) the model saw for each photo")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-evaluate``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not folder.is_dir():
            parser.error(f"{folder}: not a directory")
    names = [folder.name for folder in args.folders]
    if len(set(names)) != len(names):
        parser.error(f"folders {names}: each folder's name must be different (it names the "
                     "source)")
    if args.fold_models and args.preprocess == "fmnist":
        parser.error("--fold-models scores photo models: it needs --preprocess auto or photo")
    source_models = _source_models(args.source_model, parser)
    unknown = sorted(set(source_models) - set(names))
    if unknown:
        parser.error(f"--source-model {', '.join(unknown)}: no folder of that name among "
                     f"{', '.join(names)}")
    from edge_runtime.interpreter.bundle import load_bundle
    from edge_runtime.classifier import MODEL_ERRORS

    results, reports = {}, []
    try:
        labels = load_bundle(args.model).labels
        for folder in args.folders:
            payload, report = evaluate_folder(folder, labels, args,
                                              source_models.get(folder.name))
            results[folder.name] = payload
            reports.append(report)
            print(report + "\n", flush=True)
    except MODEL_ERRORS as exc:
        print(f"fashion-evaluate: error: {exc}", file=sys.stderr)
        return 2
    except NoPhotosError as exc:
        print(f"fashion-evaluate: error: {exc}", file=sys.stderr)
        return 1
    if len(results) > 1:
        table = format_sources(results)
        reports.append(table)
        print(table)
    if args.out:
        _write_results(args.out, results, "\n\n".join(reports) + "\n")
    return 0


def _write_results(out: Path, results: dict[str, dict], report: str) -> None:
    """report.txt, results.json (one folder's payload, or ``{"sources": {name: payload}}``)
    and the confusion matrix of each folder's photos, each written atomically."""
    from edge_runtime.apps.confusion_matrix import render_confusion_matrix
    from edge_runtime.media.atomic_files import write_bytes_atomic, write_text_atomic

    write_text_atomic(out / "report.txt", report)
    single = len(results) == 1
    payload = next(iter(results.values())) if single else {"sources": results}
    write_text_atomic(out / "results.json", json.dumps(payload, indent=2) + "\n")
    for name, result in results.items():
        png = render_confusion_matrix(
            np.array(result["parts"]["all"]["confusion_matrix"]), result["labels"],
            f"{result['model']} on {name}")
        write_bytes_atomic(out / ("confusion_matrix.png" if single
                                  else f"confusion_matrix_{name}.png"), png)


if __name__ == "__main__":
    raise SystemExit(main())
