"""``fashion-train``: train the Fashion-MNIST MLP and write its report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edge_runtime.photo.folds import FOLDS
from train.config import TrainConfig
from train.data import DataError, DataNotFoundError, load_fashion_mnist

DEFAULTS = TrainConfig()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-train``."""
    parser = argparse.ArgumentParser(
        prog="fashion-train",
        description="Train the 784-128-64-10 MLP on Fashion-MNIST and write model.keras, "
        "metrics.json, classification_report.txt and PNG plots to --out.",
    )
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate,
                        help="initial Adam learning rate, decayed to 0 on a cosine")
    parser.add_argument("--dropout", type=float, default=DEFAULTS.dropout,
                        help="dropout after each hidden layer, training only")
    parser.add_argument("--label-smoothing", type=float, default=DEFAULTS.label_smoothing)
    parser.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay,
                        help="decoupled weight decay of Adam (AdamW); 0 for plain Adam")
    parser.add_argument("--photo-copies", type=int, default=0, metavar="N",
                        help="train the photo-robust variant on N augmented copies of the data "
                        "(see train/augment.py; 0: the plain model, unless --real-photos)")
    parser.add_argument("--real-photos", type=Path, metavar="DIR",
                        help="also train on these labelled photos (one subfolder per class, as "
                        "fashion-evaluate reads them), all but the held-out fold; see "
                        "train/real_photos.py")
    parser.add_argument("--real-photo-copies", type=int, default=DEFAULTS.real_photo_copies,
                        metavar="N", help="renderings per real photo: as shot plus N-1 "
                        "re-shoots (default %(default)s)")
    parser.add_argument("--holdout-fold", type=int, default=DEFAULTS.holdout_fold,
                        choices=range(FOLDS), help="the fold of --real-photos kept out of "
                        "training (default %(default)s: fashion-evaluate's holdout part)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--limit", type=int, metavar="N",
                        help="train on N training images only (quick runs and tests)")
    parser.add_argument("--data-dir", type=Path,
                        help="directory with the four IDX files (searched before the defaults)")
    parser.add_argument("--out", type=Path, default=Path("runs/default"), metavar="DIR",
                        help="output directory (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-train``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or (args.limit is not None and args.limit < 10):
        build_parser().error("--epochs and --batch-size must be >= 1 and --limit >= 10")
    if args.real_photos is not None and not args.real_photos.is_dir():
        build_parser().error(f"--real-photos {args.real_photos}: not a directory")
    if args.real_photo_copies < 1:
        build_parser().error(f"--real-photo-copies must be >= 1, got {args.real_photo_copies}")
    started = time.perf_counter()
    try:
        data = load_fashion_mnist(args.data_dir)
    except (DataError, DataNotFoundError) as exc:
        print(f"fashion-train: error: {exc}", file=sys.stderr)
        return 1
    # TensorFlow is imported only now, so data errors and --help answer instantly.
    from train.real_photos import NoPhotosError
    from train.report import write_run
    from train.training import train_model

    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        dropout=args.dropout, label_smoothing=args.label_smoothing,
        weight_decay=args.weight_decay,
        photo_copies=args.photo_copies,
        real_photos=str(args.real_photos) if args.real_photos else None,
        real_photo_copies=args.real_photo_copies, holdout_fold=args.holdout_fold,
        seed=args.seed, limit=args.limit,
    )
    print(f"data: {data.directory}", flush=True)
    try:
        result = train_model(data.train.images, data.train.labels, config)
    except NoPhotosError as exc:
        print(f"fashion-train: error: {exc}", file=sys.stderr)
        return 1
    report = write_run(args.out, result, data, config)
    print(
        f"test accuracy {report['test_accuracy']:.4f}, loss {report['test_loss']:.4f}; "
        f"trained in {result.duration_s:.0f} s ({time.perf_counter() - started:.0f} s in all); "
        f"wrote {args.out}/",
        flush=True,
    )
    return 0
