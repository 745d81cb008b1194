"""Backbone features of the training views, computed once and cached.

The backbone is frozen below the block where fine-tuning starts, so each view's feature map
there (7x7x192 for a start at blocks 12-15, at 224 px) is all training needs. They are computed
by a float32 TFLite copy of that frozen part (outputs equal Keras's within 1e-5, and XNNPACK runs
it 4-6 times faster than TensorFlow on a CPU), on two threads, while another thread prepares the
next views. A cache file keyed by everything that decides the features lets cross-validation
folds and repeated runs share them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.runner import ModelRunner
from edge_runtime.interpreter.tensors import ImageLayout
from edge_runtime.media.atomic_files import atomic_path
from train.photo.views import LabelledPicture, view_batches

EXTRACT_THREADS = 2


def backbone_model(layout: ImageLayout, weights: Path | None = None):
    """The Keras EfficientNet-Lite0 trunk with its ImageNet weights: uint8-range RGB of
    ``layout`` in, pooled 1280-d features out (the photo model adds its head on them)."""
    from train.photo.efficientnet_lite import build_efficientnet_lite0, load_imagenet_weights
    from train.photo.pretrained import load_imagenet_state_dict

    model = build_efficientnet_lite0((layout.height, layout.width, 3), include_top=False)
    load_imagenet_weights(model, load_imagenet_state_dict(weights))
    return model


def frozen_tflite(backbone, cut: int, calibration: np.ndarray | None = None) -> bytes:
    """A TFLite copy of the backbone up to block ``cut`` (exclusive), for fast feature
    extraction: float32, or with ``calibration`` images full-integer int8 exactly as
    ``fashion-convert`` quantizes the whole model."""
    from train.quantize import convert
    from train.photo.efficientnet_lite import split_at_block

    bottom, _ = split_at_block(backbone, cut)
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its graph
        return convert(bottom, "float32" if calibration is None else "int8", calibration)


def extract(runner: ModelRunner, pictures: list[LabelledPicture], views: int,
            layout: ImageLayout, seed: int) -> np.ndarray:
    """Features (len(pictures) * views, ...) as float16, picture by picture, views in order;
    the next batch of views is prepared while the backbone runs on this one."""
    batches = view_batches(pictures, views, layout, seed)
    out, done, started = [], 0, time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(next, batches, None)
        while (batch := pending.result()) is not None:
            pending = pool.submit(next, batches, None)
            out.append(runner.probabilities_batch(batch, batch_size=32).astype(np.float16))
            done += len(batch)
            rate = done / (time.perf_counter() - started)
            print(f"\rfeatures: {done:,}/{len(pictures) * views:,} views, {rate:.0f}/s",
                  end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    shape = runner.output_spec.shape[1:]
    return np.concatenate(out) if out else np.zeros((0, *shape), np.float16)


# Part of every cache key: bump it when the code that makes the pictures changes (the renderer,
# the re-shoots, decoding, the letterbox), which the fields of a key cannot see.
FEATURES_VERSION = 2


def cache_key(fields: dict) -> str:
    """A short key for everything that decides a set of features."""
    keyed = fields | {"features_version": FEATURES_VERSION}
    return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]


def cached(cache_dir: Path | None, name: str, fields: dict, compute) -> np.ndarray:
    """``compute()``'s array, stored in ``cache_dir/NAME-KEY.npy`` and read back on the next call
    with the same ``fields``; no cache without ``cache_dir``."""
    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / f"{name}-{cache_key(fields)}.npy"
    if path.is_file():
        print(f"features: {name} from {path}", file=sys.stderr)
        return np.load(path)
    array = compute()
    with atomic_path(path) as tmp:
        np.save(tmp, array)
    return array


def feature_runner(backbone, cut: int, calibration: np.ndarray | None = None) -> ModelRunner:
    """A two-thread interpreter of the frozen part's TFLite copy (int8 with ``calibration``)."""
    return ModelRunner(frozen_tflite(backbone, cut, calibration), num_threads=EXTRACT_THREADS)
