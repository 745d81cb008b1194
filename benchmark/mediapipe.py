"""Classifier beside MediaPipe Tasks' ImageClassifier: the same model on the same decoded
photos, MediaPipe run in its own environment (``.venv-mediapipe``)."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from benchmark.stats import REPEATS

ROOT = Path(__file__).resolve().parent.parent

# MediaPipe Tasks' ImageClassifier in its own environment, on the same decoded photos: per
# photo the median milliseconds of classify() over the passes, and its top-1 class index on the
# photo as it is (MediaPipe stretches it) and letterboxed as scripts/mediapipe_classify.py does.
_MEDIAPIPE_CODE = (
    "import json, sys, time\n"
    "import cv2, mediapipe as mp\n"
    "from mediapipe.tasks.python import vision\n"
    "from mediapipe.tasks.python.core.base_options import BaseOptions\n"
    "sys.path.insert(0, 'scripts')\n"
    "from mediapipe_classify import letterboxed\n"
    "model, passes, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]\n"
    "photos = [cv2.imread(p) for p in paths]\n"
    "images = [mp.Image(image_format=mp.ImageFormat.SRGB,\n"
    "                   data=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)) for bgr in photos]\n"
    "options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model),\n"
    "                                        max_results=1)\n"
    "def top1(result):\n"
    "    return result.classifications[0].categories[0].index\n"
    "with vision.ImageClassifier.create_from_options(options) as classifier:\n"
    "    boxed = [top1(classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB,\n"
    "                                               data=letterboxed(bgr)))) for bgr in photos]\n"
    "    top, ms = [], [[] for _ in images]\n"
    "    for n in range(passes + 1):\n"
    "        for i, image in enumerate(images):\n"
    "            start = time.perf_counter()\n"
    "            result = classifier.classify(image)\n"
    "            ms[i].append((time.perf_counter() - start) * 1000)\n"
    "            if n == 0:\n"
    "                top.append(top1(result))\n"
    "print(json.dumps({'top1': top, 'letterboxed': boxed,\n"
    "                  'ms': [sorted(m[1:])[len(m[1:]) // 2] for m in ms]}))\n"
)


def mediapipe_figures(mediapipe_python: Path, photo_model: Path, photos: Path, out: Path,
                      count: int = 60, passes: int = REPEATS) -> dict:
    """Classifier.classify against MediaPipe's ImageClassifier (run by ``mediapipe_python``),
    the same model on the same decoded photos (the first ``count`` of ``photos``, decoded at
    the size the model needs, handed to both as pixels; ours on one thread): the median
    per-photo time of each, their ratio, and how often their top-1 labels agree: on the photo as
    it is (MediaPipe stretches it to the input, Classifier letterboxes it) and on the photo
    letterboxed first (``scripts/mediapipe_classify.py``, what docs/results.md tells its users)."""
    from edge_runtime.classifier import Classifier
    from edge_runtime.media.image_io import encode_png, read_image

    scratch = out / "photo-scratch" / "mediapipe"
    scratch.mkdir(parents=True, exist_ok=True)
    with Classifier(photo_model=photo_model, preprocess="photo", num_threads=1) as clf:
        decoded = []
        for i, path in enumerate(sorted(photos.rglob("*.jpg"))[:count]):
            image = read_image(path, clf.photo_decode_side)
            png = scratch / f"{i:03d}.png"
            png.write_bytes(encode_png(image.pixels))
            decoded.append((png, image))
        ours, labels = [[] for _ in decoded], []
        for n in range(passes + 1):
            for i, (_, image) in enumerate(decoded):
                start = time.perf_counter()
                prediction = clf.classify(image)
                ours[i].append((time.perf_counter() - start) * 1000)
                if n == 0:
                    labels.append(prediction.class_id)
    done = subprocess.run([str(mediapipe_python), "-c", _MEDIAPIPE_CODE, str(photo_model),
                           str(passes), *(str(png) for png, _ in decoded)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"error": (lines or ["MediaPipe failed"])[-1][:160]}
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    ours_ms = float(np.median([statistics.median(m[1:]) for m in ours]))
    theirs_ms = float(np.median(theirs["ms"]))
    return {"photos": len(decoded), "classify_ms_p50": ours_ms, "mediapipe_ms_p50": theirs_ms,
            "ratio": ours_ms / theirs_ms,
            "top1_agreement": float(np.mean(np.array(labels) == np.array(theirs["top1"]))),
            "top1_agreement_letterboxed": float(np.mean(np.array(labels)
                                                        == np.array(theirs["letterboxed"])))}
