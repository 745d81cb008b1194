"""The photo list: every real photo the photo model learns from or is measured on, and its source.

``photo_list.csv`` (beside this module) has one row per photo, grouped in sets. Each set is one
folder of an assembled photo root (``<set>/<class folder>/<file>``, as ``fashion-evaluate`` and
``fashion-train --photos`` read it) and belongs to one photo *source*, a public collection of one
style that leave-one-source-out evaluation holds out whole:

* ``train`` and ``eval``: the clothing-dataset phone photos of ``../shared/real-photos-train``
  (trained on, never scored) and ``../shared/real-photos`` (scored, in folds), source
  ``clothing-dataset``;
* any other set (``hm``, ``street``, ...): a source of its own, every photo in a fold.

A row names the photo's class, the public repository and commit it comes from, its path there,
its sha256, how its class was assigned, its fold, and for a photo that is a crop of a larger one
(a garment cut from a street photo) the crop box; ``fashion-photos`` (:mod:`train.photo.assemble`)
rebuilds the folders from it and checks every byte. The clothing-dataset rows are made from the two
folders' ``MANIFEST.csv`` (``python -m train.photo.photo_list``), which keeps the other sets' rows;
the list's sha256 (:func:`photo_list_sha256`) names the photos a model was trained on.

The file stays compact: what is the same for every photo of a repository (commit, license) is
written once, in ``#source`` lines at the top, and each row names its repository by key.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.labels import FASHION_MNIST_LABELS
from edge_runtime.photo.folds import photo_fold
from edge_runtime.media.atomic_files import write_text_atomic

PHOTO_LIST = Path(__file__).with_name("photo_list.csv")
SHARED = Path(__file__).resolve().parents[3] / "shared"
# The clothing-dataset sets and the folders of ../shared they come from, in the list's order.
SET_FOLDERS = {"train": "real-photos-train", "eval": "real-photos"}
CLOTHING_DATASET = "clothing-dataset"  # the source of those two sets
TRAIN_ONLY = "train"  # the one set that is never scored, so has no folds
COLUMNS = ("path", "set", "fold", "class_id", "source", "source_path", "sha256", "label_origin",
           "crop")
SOURCE_COLUMNS = ("key", "repo", "commit", "license")
# The manifests' label_origin values, shortened: the class is the source's own label, or the
# source's label covered several classes and the class was assigned by looking at the photo.
LABEL_ORIGINS = {"source label": "source", "labelled by eye": "eye"}

_HEADER = """\
# fashion-edge photo list: the photo model's real photos and their public source (train/photo/photo_list.py).
# path: in the set's folder (<class folder>/<file>); set: train (../shared/real-photos-train),
#   eval (../shared/real-photos) or another photo source's name; fold: every set but train,
#   edge_runtime.photo.folds.photo_fold(path); class_id: Fashion-MNIST class; source: a key of the
#   #source lines; source_path: the file in that repository at that commit,
#   https://raw.githubusercontent.com/{repo}/{commit}/{source_path}; sha256: of that file;
#   label_origin: source (the source's own label) or eye (assigned by eye); crop: WxH+X+Y, the box
#   of the photo (as decoded, upright) that the set holds, as a PNG; empty: the file as it is.
# clothing-dataset rows are made from the MANIFEST.csv files by `python -m train.photo.photo_list`;
# assembled by `fashion-photos`.
"""
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SET_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_CROP = re.compile(r"(\d+)x(\d+)\+(\d+)\+(\d+)")


class PhotoListError(ValueError):
    """The photo list (or a manifest it is made from) is malformed; the message names the line."""


@dataclass(frozen=True)
class Photo:
    """One photo of the list."""

    path: str  # in its set's folder: "<class folder>/<file>"
    set: str  # "train", "eval" or another source's name
    fold: int | None  # photo_fold(path); train photos: None (always trained on)
    class_id: int
    source_repo: str  # "owner/name" on GitHub
    source_commit: str  # 40 hex digits
    source_path: str  # the file within source_repo at source_commit
    sha256: str
    label_origin: str  # "source" or "eye"
    license: str
    crop: tuple[int, int, int, int] | None = None  # x, y, width, height in the source photo

    @property
    def source(self) -> str:
        """The photo source it belongs to: what leave-one-source-out holds out whole."""
        return CLOTHING_DATASET if self.set in SET_FOLDERS else self.set

    @property
    def class_name(self) -> str:
        """The Fashion-MNIST class name ("T-shirt/top")."""
        return FASHION_MNIST_LABELS[self.class_id]

    @property
    def destination(self) -> str:
        """Where the photo goes in an assembled folder: ``<set>/<path>``."""
        return f"{self.set}/{self.path}"

    def url(self, base_url: str) -> str:
        """The photo's download address below ``base_url`` (raw.githubusercontent.com's layout)."""
        quoted = urllib.parse.quote(f"{self.source_repo}/{self.source_commit}/{self.source_path}")
        return f"{base_url.rstrip('/')}/{quoted}"


def format_crop(crop: tuple[int, int, int, int] | None) -> str:
    """A crop box as the list writes it, ``WxH+X+Y`` (empty for none)."""
    if crop is None:
        return ""
    x, y, width, height = crop
    return f"{width}x{height}+{x}+{y}"


def parse_crop(text: str) -> tuple[int, int, int, int] | None:
    """The (x, y, width, height) of a ``WxH+X+Y`` crop; None for an empty one; ValueError else."""
    if not text:
        return None
    match = _CROP.fullmatch(text)
    if not match:
        raise ValueError(f"crop {text!r}, expected WxH+X+Y")
    width, height, x, y = map(int, match.groups())
    if width == 0 or height == 0:
        raise ValueError(f"crop {text!r} is empty")
    return x, y, width, height


def scored_sets(photos: list[Photo] | None = None) -> list[str]:
    """The sets whose photos are scored (all but train), in the list's order: each one folder of
    an assembled photo root and one photo source (eval: clothing-dataset's)."""
    photos = read_photo_list() if photos is None else photos
    return list(dict.fromkeys(p.set for p in photos if p.set != TRAIN_ONLY))


def holds_out(photo, fold: int | None, source: str | None) -> bool:
    """Whether a run that holds out ``source`` (leave one source out), or else fold ``fold`` of
    every scored set, keeps ``photo`` (anything with a ``source`` and a ``fold``) out of training."""
    if source is not None:
        return photo.source == source
    return photo.fold is not None and photo.fold == fold


def holdout_text(fold: int | None, source: str | None) -> str:
    """What a run holds out, in words."""
    return f"photo source {source}" if source is not None else f"fold {fold}"


def class_folder(class_id: int) -> str:
    """The folder name of a class: ``/`` and spaces written as ``_`` (``T-shirt_top``)."""
    return FASHION_MNIST_LABELS[class_id].replace("/", "_").replace(" ", "_")


def photo_list_sha256(path: str | Path = PHOTO_LIST) -> str:
    """The sha256 of the photo list file: it identifies the photos a model learnt from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _safe_relative(value: str) -> bool:
    """A plain relative path: no absolute path, no ``..``, no empty or backslash parts."""
    parts = value.split("/")
    return bool(value) and "\\" not in value and all(p not in ("", ".", "..") for p in parts)


def _check(photo: Photo, where: str) -> None:
    """Raise PhotoListError unless every field of ``photo`` is well formed."""
    problems = []
    if not _SET_NAME.fullmatch(photo.set):
        problems.append(f"set {photo.set!r}, expected a name of lowercase letters, digits and -")
    if not 0 <= photo.class_id < len(FASHION_MNIST_LABELS):
        problems.append(f"class_id {photo.class_id}, expected 0-{len(FASHION_MNIST_LABELS) - 1}")
    elif not _safe_relative(photo.path) or photo.path.count("/") != 1:
        problems.append(f"path {photo.path!r}, expected <class folder>/<file>")
    elif photo.path.split("/")[0] != class_folder(photo.class_id):
        problems.append(f"path {photo.path!r} is not in {class_folder(photo.class_id)}/, the "
                        f"folder of class {photo.class_id}")
    expected_fold = None if photo.set == TRAIN_ONLY else photo_fold(photo.path)
    if photo.fold != expected_fold:
        problems.append(f"fold {photo.fold}, expected {expected_fold}")
    if not _safe_relative(photo.source_path):
        problems.append(f"source_path {photo.source_path!r} is not a plain relative path")
    if not _SHA256.fullmatch(photo.sha256):
        problems.append(f"sha256 {photo.sha256!r} is not 64 lowercase hex digits")
    if not _COMMIT.fullmatch(photo.source_commit):
        problems.append(f"commit {photo.source_commit!r} is not 40 lowercase hex digits")
    if photo.crop is not None and not photo.path.endswith(".png"):
        problems.append(f"path {photo.path!r} of a cropped photo, expected a .png (crops are "
                        "written losslessly)")
    if photo.label_origin not in LABEL_ORIGINS.values():
        problems.append(f"label_origin {photo.label_origin!r}, expected one of "
                        f"{', '.join(LABEL_ORIGINS.values())}")
    if problems:
        raise PhotoListError(f"{where}: {'; '.join(problems)}")


def read_photo_list(path: str | Path = PHOTO_LIST) -> list[Photo]:
    """The photos of a list file, each checked (paths, class folder, fold, sha256, commit)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PhotoListError(f"{path}: cannot read the photo list: {exc}") from exc
    sources = {}
    table = []  # (line number, text) of the header and the photo rows
    for number, line in enumerate(lines, 1):
        if line.startswith("#source,"):
            fields = next(csv.reader([line[len("#source,"):]]))
            if len(fields) != len(SOURCE_COLUMNS):
                raise PhotoListError(f"{path}:{number}: {len(fields)} source fields, expected "
                                     f"{len(SOURCE_COLUMNS)} ({', '.join(SOURCE_COLUMNS)})")
            if tuple(fields) != SOURCE_COLUMNS:  # not the #source lines' own header
                sources[fields[0]] = dict(zip(SOURCE_COLUMNS, fields))
        elif not line.startswith("#"):
            table.append((number, line))
    rows = list(zip((number for number, _ in table), csv.reader(line for _, line in table)))
    if not rows or tuple(rows[0][1]) != COLUMNS:
        raise PhotoListError(f"{path}: columns {rows[0][1] if rows else []}, "
                             f"expected {list(COLUMNS)}")
    photos, seen = [], set()
    for number, fields in rows[1:]:
        where = f"{path}:{number}"
        if len(fields) != len(COLUMNS):
            raise PhotoListError(f"{where}: {len(fields)} fields, expected {len(COLUMNS)}")
        row = dict(zip(COLUMNS, fields))
        source = sources.get(row["source"])
        if source is None:
            raise PhotoListError(f"{where}: source {row['source']!r} has no #source line")
        try:
            photo = Photo(
                path=row["path"], set=row["set"], fold=int(row["fold"]) if row["fold"] else None,
                class_id=int(row["class_id"]), source_repo=source["repo"],
                source_commit=source["commit"], source_path=row["source_path"],
                sha256=row["sha256"], label_origin=row["label_origin"], license=source["license"],
                crop=parse_crop(row["crop"]))
        except ValueError as exc:
            raise PhotoListError(f"{where}: {exc}") from exc
        _check(photo, where)
        if photo.destination in seen:
            raise PhotoListError(f"{where}: {photo.destination} is listed twice")
        seen.add(photo.destination)
        photos.append(photo)
    return photos


def photos_from_manifests(real_photos: Path, real_photos_train: Path) -> list[Photo]:
    """The photo list as the two folders' MANIFEST.csv give it, train photos first, by path."""
    photos = []
    for set_name, folder in (("train", real_photos_train), ("eval", real_photos)):
        manifest = Path(folder) / "MANIFEST.csv"
        try:
            with manifest.open(newline="", encoding="utf-8") as stream:
                rows = list(csv.DictReader(stream))
        except OSError as exc:
            raise PhotoListError(f"{manifest}: cannot read: {exc}") from exc
        for number, row in enumerate(rows, 2):
            where = f"{manifest}:{number}"
            origin = next((short for long, short in LABEL_ORIGINS.items()
                           if row.get("label_origin", "").startswith(long)), None)
            if origin is None:
                raise PhotoListError(f"{where}: label_origin {row.get('label_origin')!r}, "
                                     f"expected to start with one of {list(LABEL_ORIGINS)}")
            try:
                photo = Photo(
                    path=row["file"], set=set_name,
                    fold=photo_fold(row["file"]) if set_name == "eval" else None,
                    class_id=int(row["fashion_mnist_label"]), source_repo=row["source_repo"],
                    source_commit=row["source_commit"], source_path=row["source_path"],
                    sha256=row["sha256"], label_origin=origin, license=row["license"])
            except (KeyError, ValueError, TypeError) as exc:
                raise PhotoListError(f"{where}: malformed row ({exc!r})") from exc
            _check(photo, where)
            photos.append(photo)
    return sort_photos(photos)


def sort_photos(photos: list[Photo]) -> list[Photo]:
    """The list's order: train, eval, then the other sets by name; by path within a set."""
    order = list(SET_FOLDERS)
    return sorted(photos, key=lambda p: (order.index(p.set) if p.set in order else len(order),
                                         p.set, p.path))


def _source_keys(photos: list[Photo]) -> dict[tuple[str, str, str], str]:
    """A short key per (repo, commit, license): the repository's name, numbered if it repeats."""
    keys: dict[tuple[str, str, str], str] = {}
    for source in sorted({(p.source_repo, p.source_commit, p.license) for p in photos}):
        name = source[0].rsplit("/", 1)[-1]
        keys[source] = name if name not in keys.values() else f"{name}-{len(keys) + 1}"
    return keys


def format_photo_list(photos: list[Photo]) -> str:
    """The text of a list file holding ``photos`` in the given order."""
    keys = _source_keys(photos)
    out = io.StringIO()
    out.write(_HEADER)
    writer = csv.writer(out, lineterminator="\n")
    for values in [SOURCE_COLUMNS, *([key, *source] for source, key in keys.items())]:
        out.write("#source,")
        writer.writerow(values)
    writer.writerow(COLUMNS)
    for p in photos:
        writer.writerow([p.path, p.set, "" if p.fold is None else p.fold, p.class_id,
                         keys[(p.source_repo, p.source_commit, p.license)], p.source_path,
                         p.sha256, p.label_origin, format_crop(p.crop)])
    return out.getvalue()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m train.photo.photo_list``."""
    parser = argparse.ArgumentParser(
        prog="python -m train.photo.photo_list",
        description="Remake the clothing-dataset rows of the photo list (train/photo_list.csv) from "
        "the MANIFEST.csv of the two photo folders, keeping the list's other sets, or --check that "
        "the committed list still matches them.")
    parser.add_argument("--real-photos", type=Path, default=SHARED / SET_FOLDERS["eval"],
                        metavar="DIR", help="the eval photos' folder (default: %(default)s)")
    parser.add_argument("--real-photos-train", type=Path, default=SHARED / SET_FOLDERS["train"],
                        metavar="DIR", help="the train photos' folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=PHOTO_LIST, metavar="CSV",
                        help="the list to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if --out differs from what the manifests give")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Write (or check) the photo list; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        others = ([p for p in read_photo_list(args.out) if p.set not in SET_FOLDERS]
                  if args.out.is_file() else [])
        photos = sort_photos(photos_from_manifests(args.real_photos, args.real_photos_train)
                             + others)
    except PhotoListError as exc:
        print(f"photo_list: error: {exc}", file=sys.stderr)
        return 2
    text = format_photo_list(photos)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"photo_list: {args.out} differs from the manifests; rerun without --check",
                  file=sys.stderr)
            return 1
        print(f"{args.out}: {len(photos)} photos, matches the manifests")
        return 0
    write_text_atomic(args.out, text)
    print(f"{args.out}: {len(photos)} photos, {len(text.encode()):,} bytes, "
          f"sha256 {photo_list_sha256(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
