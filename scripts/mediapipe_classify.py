"""Classify photos with MediaPipe Tasks' ImageClassifier and the shipped photo model, each photo
letterboxed first, as ``fashion-classify`` prepares it.

By itself MediaPipe stretches a photo to the model's square input. The photo model learned
whole photos scaled to fit and centred on grey, and reads stretched ones less well (2.5 points
fewer right on the held-out photos: docs/results.md, "MediaPipe"). Runs in an environment with
mediapipe, which brings OpenCV and numpy, and needs nothing from this project:

    python scripts/mediapipe_classify.py shirt.jpg photos/*.jpg > labels.jsonl

One JSON Lines record per photo (path, label, class_id, score); an unreadable file is named on
stderr and the others go on. Exit status: 0 every photo classified, 1 some unreadable, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # a bad file gets our one line, not OpenCV's
import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LETTERBOX_FILL = 127  # the grey the photo model's normalisation maps to 0 (as the device fills)


def letterboxed(bgr: np.ndarray, side: int = 224) -> np.ndarray:
    """RGB ``side`` x ``side``: the whole BGR photo scaled to fit (area averaging down, bilinear
    up, as the device resizes) and centred on grey."""
    height, width = bgr.shape[:2]
    scale = side / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(bgr, (new_w, new_h),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.full((side, side, 3), LETTERBOX_FILL, np.uint8)
    top, left = (side - new_h) // 2, (side - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    return canvas


def classify(model: Path, paths: Iterable[str], stretch: bool = False) -> Iterator[dict]:
    """A record per photo: its top-1 label, class id and score, or ``error`` naming what is
    wrong with the file. ``stretch``: hand MediaPipe the photo as it is (MediaPipe's own way)."""
    # Imported here: ``letterboxed`` needs only OpenCV, so the project's tests can check it.
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(model)), max_results=1)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for path in paths:
            if not Path(path).is_file():
                yield {"path": path, "error": "no such file"}
                continue
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            if bgr is None:
                yield {"path": path, "error": "not a decodable image"}
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if stretch else letterboxed(bgr)
            top = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB,
                                               data=np.ascontiguousarray(rgb)))
            best = top.classifications[0].categories[0]
            yield {"path": path, "label": best.category_name, "class_id": best.index,
                   "score": round(best.score, 6)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PHOTO")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "fashion_photo_int8.tflite",
                        help="a photo model with image-classifier metadata (default: the shipped one)")
    parser.add_argument("--stretch", action="store_true",
                        help="hand MediaPipe the photo as it is, stretched to the input")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"--model {args.model}: no such file")
    failed = 0
    for record in classify(args.model, args.paths, args.stretch):
        if "error" in record:
            failed += 1
            print(f"{record['path']}: {record['error']}", file=sys.stderr)
        else:
            print(json.dumps(record), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
