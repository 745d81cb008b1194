"""Fit a 28x28 model (MLP or CNN): seeded split, dropout, label smoothing, weight decay, cosine learning-rate
decay, best validation weights restored."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from train.config import TrainConfig
from train.model import build_model


@dataclass
class TrainResult:
    """The trained model (best validation weights restored), its history and the wall time."""

    model: keras.Model
    history: dict[str, list[float]]
    duration_s: float
    n_train: int
    n_validation: int


def split_train_validation(
    images: np.ndarray, labels: np.ndarray, config: TrainConfig
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle with the seed, apply ``limit``, and hold out ``validation_split`` of what is left."""
    order = np.random.default_rng(config.seed).permutation(len(images))
    if config.limit:
        order = order[: config.limit]
    n_val = max(1, int(round(len(order) * config.validation_split)))
    val, fit = order[:n_val], order[n_val:]
    return (images[fit], labels[fit]), (images[val], labels[val])


def _dataset(images, labels, config: TrainConfig, training: bool) -> tf.data.Dataset:
    data = tf.data.Dataset.from_tensor_slices((images, tf.one_hot(labels, 10)))
    if training:
        data = data.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
    data = data.batch(config.batch_size)
    return data.prefetch(tf.data.AUTOTUNE)


def train_model(images: np.ndarray, labels: np.ndarray, config: TrainConfig) -> TrainResult:
    """Train on ``images`` (N, 28, 28) uint8 and ``labels`` (N,) and return the result."""
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    (x_fit, y_fit), (x_val, y_val) = split_train_validation(images, labels, config)
    model = build_model(config.arch, config.dropout)
    steps = config.epochs * int(np.ceil(len(x_fit) / config.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, max(1, steps))
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    # Patience spans the whole run: with cosine decay the late epochs are the good ones, and the
    # callback's job is only to hand back the best validation weights, not to stop early.
    best = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=config.epochs, restore_best_weights=True
    )
    start = time.perf_counter()
    history = model.fit(
        _dataset(x_fit, y_fit, config, training=True),
        validation_data=_dataset(x_val, y_val, config, training=False),
        epochs=config.epochs,
        callbacks=[best],
        verbose=1 if sys.stdout.isatty() else 2,
    )
    duration = time.perf_counter() - start
    return TrainResult(model, history.history, duration, len(x_fit), len(x_val))
