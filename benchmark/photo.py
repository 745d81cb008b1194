"""The photo model on the device: camera frames through the live loop, phone photos decoded at
the size the model needs, and ``fashion-classify`` on a 12-megapixel photo."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmark.frames import live_figures, write_test_video
from benchmark.processes import CLI_CODE, measure_process
from benchmark.stats import FULL, Effort, spread

PHONE_PHOTOS = ((533, 400), (4000, 3000))  # a resized share and a 12-megapixel original
DECODES_PER_REPEAT = 4  # decoding is quick: more runs steady its median


def phone_photos(out: Path, photos: Path | None) -> list[Path]:
    """JPEGs the size of a shared phone photo (533x400) and of a 12-megapixel original
    (4000x3000), from a labelled photo when there is one, else from noise."""
    import cv2  # the encoder; the device only decodes (edge_runtime.media.image_io)

    from edge_runtime.media.image_io import read_image
    from edge_runtime.media.imaging import resize

    source = next(iter(sorted(photos.rglob("*.jpg"))), None) if photos else None
    picture = (read_image(source).pixels if source is not None else
               np.random.default_rng(0).integers(0, 256, (400, 533, 3), dtype=np.uint8))
    if picture.ndim == 2:
        picture = cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
    portrait = picture.shape[0] > picture.shape[1]
    written = []
    for long_side, short_side in PHONE_PHOTOS:
        width, height = (short_side, long_side) if portrait else (long_side, short_side)
        ok, data = cv2.imencode(".jpg", resize(picture, width, height),
                                [cv2.IMWRITE_JPEG_QUALITY, 90])
        path = out / f"phone_{long_side}x{short_side}.jpg"
        path.write_bytes(data.tobytes())
        written.append(path)
    return written


def photo_figures(python: str, photo_model: Path, out: Path, photos: Path | None,
                  effort: Effort = FULL) -> dict:
    """The photo model on the device: per 640x480 camera frame through the live loop, phone
    photo decoding at the size the model needs, and ``fashion-classify`` on a 12-megapixel
    photo (start to result, peak RSS)."""
    from edge_runtime.classifier import Classifier
    from edge_runtime.media.image_io import read_image

    scratch = out / "photo-scratch"
    scratch.mkdir(exist_ok=True)
    with Classifier(photo_model=photo_model, num_threads=1) as clf:
        side = clf.photo_decode_side
    decode = {}
    for path in phone_photos(scratch, photos):
        size = read_image(path).pixels.shape
        timings = []
        for _ in range(effort.repeats * DECODES_PER_REPEAT):
            start = time.perf_counter()
            read_image(path, side)
            timings.append((time.perf_counter() - start) * 1000)
        decode[path.stem] = {"size": f"{max(size[:2])}x{min(size[:2])}",
                             "decode_ms": spread(timings[1:])}
    big = scratch / f"phone_{PHONE_PHOTOS[-1][0]}x{PHONE_PHOTOS[-1][1]}.jpg"
    runs = [measure_process(python, CLI_CODE, ["--photo-model", str(photo_model),
                                                "--preprocess", "photo", "--output",
                                                str(scratch / "out.jsonl"), str(big)])
            for _ in range(effort.repeats)]
    if any(status != 0 for _, _, status in runs):
        raise RuntimeError(f"fashion-classify --photo-model {photo_model} {big} failed")
    live = live_figures(write_test_video(scratch / "frames.avi", photos, effort.frames),
                        photo_model)
    return {"model": photo_model.name, "decode_side": side, "decode": decode,
            "cli_photo": {"photo": big.name, "first_result_s": spread([r[0] for r in runs]),
                          "peak_rss_mib": spread([r[1] for r in runs])},
            "live": live}
