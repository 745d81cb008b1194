"""Train the photo model: real photos and renderings, backbone features, head, joined model.

What the run holds out (one fold of every scored photo set, or one photo source whole) never
enters training; the run reports it (as shot, once each) and Fashion-MNIST *test* garments
rendered the same two ways, which the model never saw either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.tensors import ImageLayout
from train.photo.config import PhotoTrainConfig
from train.photo.features import backbone_model, cached, extract, feature_runner
from train.photo.head import join, sample_weights, train_top
from train.photo.photo_list import PhotoListError, photo_list_sha256, read_photo_list
from train.photo.pretrained import SHA256 as WEIGHTS_SHA256
from train.photo.views import (RENDER, TEST_RENDERS_PER_CLASS, LabelledPicture,
                               calibration_images, locate_photos, renderings)

INT8_CALIBRATION = 500  # training photos and renderings that calibrate the int8 frozen part
VALIDATION_SHARE = 0.1


@dataclass
class PhotoFeatures:
    """Backbone features of every view, with where each came from. ``origin`` is the photo's
    set or ``render``; ``source`` its photo source (``render`` for renderings); ``fold`` is -1
    for pictures that are never scored (the train set, renderings); ``view`` 0 is the picture as
    the device sees it; ``picture`` numbers the pictures (a picture's views share it)."""

    features: np.ndarray
    labels: np.ndarray
    origin: np.ndarray
    source: np.ndarray
    fold: np.ndarray
    view: np.ndarray
    picture: np.ndarray
    int8_features: np.ndarray | None = None  # the same views through the int8 frozen part

    def held_out(self, config: PhotoTrainConfig) -> np.ndarray:
        """The views a run of ``config`` holds out: its photo source, else its fold of every
        scored set."""
        if config.holdout_source is not None:
            return self.source == config.holdout_source
        return self.fold == config.holdout_fold

    def training_rows(self, config: PhotoTrainConfig) -> np.ndarray:
        """Every view except the held-out ones."""
        return ~self.held_out(config)

    def held_out_rows(self, config: PhotoTrainConfig) -> np.ndarray:
        """The held-out photos, once each, as shot."""
        return self.held_out(config) & (self.view == 0)


@dataclass
class PhotoTrainResult:
    """The joined Keras model, the head's history, and what the run measured."""

    model: object
    history: dict
    duration_s: float
    n_photos: int
    n_renders: int
    n_train_views: int
    held_out: dict  # labels and predicted probabilities of the held-out photos
    rendered_test: dict  # the same for rendered Fashion-MNIST test garments


def _pictures_features(runner, pictures, views, layout, seed, cache_dir, name, fields):
    return cached(cache_dir, name, fields | {"views": views, "seed": seed},
                  lambda: extract(runner, pictures, views, layout, seed))


def gather_features(config: PhotoTrainConfig, photos_root: Path, photo_list: Path,
                    fashion, cache_dir: Path | None, weights: Path | None = None):
    """The backbone and the features of every training and evaluation view (all folds: the
    head picks its rows), of the renderings, and of the rendered test garments."""
    layout = ImageLayout(config.input_size, config.input_size, 3)
    listed = read_photo_list(photo_list)
    sources = sorted({p.source for p in listed})
    if config.holdout_source is not None and config.holdout_source not in sources:
        raise PhotoListError(f"holdout source {config.holdout_source!r} is not in {photo_list}; "
                             f"its sources: {', '.join(sources)}")
    pictures = locate_photos(photos_root, listed)
    backbone = backbone_model(layout, weights)
    runner = feature_runner(backbone, config.fine_tune_from)
    base = {"input_size": config.input_size, "weights": WEIGHTS_SHA256,
            "photo_list": photo_list_sha256(photo_list), "cut": config.fine_tune_from}
    real = _pictures_features(runner, pictures, config.views, layout, config.seed, cache_dir,
                              "photos", base)
    renders = renderings(fashion.train, config.renders_per_class, config.seed)
    rendered = _pictures_features(runner, renders, 1, layout, config.seed, cache_dir, "renders",
                                  base | {"per_class": config.renders_per_class})
    tests = renderings(fashion.test, TEST_RENDERS_PER_CLASS, config.seed + 1)
    test_features = _pictures_features(runner, tests, 1, layout, config.seed + 1, cache_dir,
                                       "test-renders", base | {"per_class": TEST_RENDERS_PER_CLASS})
    runner.close()
    int8 = None
    if config.int8_share > 0:
        int8 = cached(cache_dir, "int8", base | {"views": config.views, "seed": config.seed,
                                                 "per_class": config.renders_per_class,
                                                 "calibration": INT8_CALIBRATION},
                      lambda: int8_features(backbone, config, pictures, renders, layout))
    everything = pictures + renders
    repeat = np.array([config.views] * len(pictures) + [1] * len(renders))
    data = PhotoFeatures(
        features=np.concatenate([real, rendered]),
        labels=np.repeat([p.class_id for p in everything], repeat).astype(np.int64),
        origin=np.repeat([p.origin for p in everything], repeat),
        source=np.repeat([p.source for p in everything], repeat),
        fold=np.repeat([-1 if p.fold is None else p.fold for p in everything], repeat),
        view=np.concatenate([np.tile(np.arange(config.views), len(pictures)),
                             np.zeros(len(renders), int)]),
        picture=np.repeat(np.arange(len(everything)), repeat), int8_features=int8)
    test_labels = np.array([p.class_id for p in tests])
    return backbone, data, (test_features, test_labels)


def int8_features(backbone, config: PhotoTrainConfig, pictures: list[LabelledPicture],
                  renders: list[LabelledPicture], layout: ImageLayout) -> np.ndarray:
    """The features of every photo view and rendering through a full-integer copy of the
    frozen part, calibrated on training photos (never evaluation photos: one copy serves every
    fold) and renderings, stratified by class."""
    from train.quantize import calibration_indices

    candidates = [p for p in pictures if p.fold is None] + renders
    picked = calibration_indices(np.array([p.class_id for p in candidates]), INT8_CALIBRATION,
                                 config.seed)
    calibration = calibration_images([candidates[i] for i in picked], layout,
                                     np.random.default_rng(config.seed))
    runner = feature_runner(backbone, config.fine_tune_from, calibration)
    try:
        return np.concatenate([extract(runner, pictures, config.views, layout, config.seed),
                               extract(runner, renders, 1, layout, config.seed)])
    finally:
        runner.close()


def fit_top(backbone, data: PhotoFeatures, config: PhotoTrainConfig):
    """The fine-tuned blocks and the head trained on every view but the held-out fold's, less a
    validation part (a tenth of the pictures, all views of each) that only reports the
    learning curves."""
    rows = np.flatnonzero(data.training_rows(config))
    pictures = np.unique(data.picture[rows])
    rng = np.random.default_rng(config.seed)
    validation = rng.choice(pictures, max(1, round(VALIDATION_SHARE * len(pictures))),
                            replace=False)
    is_validation = np.isin(data.picture[rows], validation)

    def part(chosen):
        labels = data.labels[chosen]
        weights = sample_weights(labels, data.origin[chosen] == RENDER, config)
        return data.features[chosen], labels, weights

    train = rows[~is_validation]
    int8 = None if data.int8_features is None else data.int8_features[train]
    return train_top(backbone, *part(train), config, validation=part(rows[is_validation]),
                     int8_maps=int8)


def train_photo_model(config: PhotoTrainConfig, photos_root: Path, photo_list: Path, fashion,
                      cache_dir: Path | None = None, weights: Path | None = None
                      ) -> PhotoTrainResult:
    """Gather the features, fit the head, join it to the backbone; measure the held-out photos
    and the rendered test garments."""
    start = time.perf_counter()
    backbone, data, (test_x, test_y) = gather_features(config, photos_root, photo_list, fashion,
                                                       cache_dir, weights)
    head, top, history = fit_top(backbone, data, config)
    held = data.held_out_rows(config)

    def scores(features):
        return top.predict(features.astype(np.float32), verbose=0, batch_size=256)

    train_rows = data.training_rows(config)
    return PhotoTrainResult(
        model=join(backbone, head), history=history,
        duration_s=time.perf_counter() - start,
        n_photos=int(((data.origin != RENDER) & train_rows & (data.view == 0)).sum()),
        n_renders=int((data.origin == RENDER).sum()),
        n_train_views=int(train_rows.sum()),
        held_out={"labels": data.labels[held], "probabilities": scores(data.features[held])},
        rendered_test={"labels": test_y, "probabilities": scores(test_x)})
