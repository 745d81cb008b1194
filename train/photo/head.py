"""The photo model's head: trained on cached backbone features, then joined to the backbone.

The head sees only pooled features, so it trains in seconds; weights balance the classes among
the real photos (the photo source has 14 ankle boots for 971 T-shirts) and set how much the
renderings count against them.
"""

from __future__ import annotations

import numpy as np

from train.photo.config import PhotoTrainConfig

N_CLASSES = 10


def sample_weights(labels: np.ndarray, is_render: np.ndarray, config: PhotoTrainConfig
                   ) -> np.ndarray:
    """Per-sample weights, mean 1: within the real photos and within the renderings, class c
    weighs n_c ** -balance (1: every class counts alike, 0: every picture); all renderings
    together weigh ``render_weight`` times all real photos."""
    weights = np.zeros(len(labels), np.float64)
    for group, share in ((~is_render, 1.0), (is_render, config.render_weight)):
        if not group.any():
            continue
        counts = np.bincount(labels[group], minlength=N_CLASSES).astype(np.float64)
        per_class = np.where(counts > 0, np.maximum(counts, 1) ** -config.balance, 0.0)
        group_weights = per_class[labels[group]]
        weights[group] = group_weights * share / group_weights.sum()
    return (weights * len(labels) / weights.sum()).astype(np.float32)


def build_head(config: PhotoTrainConfig, n_features: int):
    """Dropout, an optional hidden layer, and the 10-way softmax, on pooled features."""
    import keras

    layers = [keras.Input((n_features,), name="features"),
              keras.layers.Dropout(config.dropout, name="head_dropout")]
    if config.hidden:
        layers += [keras.layers.Dense(config.hidden, activation="relu", name="head_hidden"),
                   keras.layers.Dropout(config.dropout, name="head_hidden_dropout")]
    layers.append(keras.layers.Dense(N_CLASSES, activation="softmax", name="probabilities"))
    return keras.Sequential(layers, name="photo_head")


def train_head(features: np.ndarray, labels: np.ndarray, weights: np.ndarray,
               config: PhotoTrainConfig, validation: tuple | None = None):
    """Fit a head on (N, F) features; ``validation`` (features, labels, weights) is measured
    after every epoch. Returns the Keras head and its training history."""
    import keras

    keras.utils.set_random_seed(config.seed)
    head = build_head(config, features.shape[1])
    steps = config.epochs * int(np.ceil(len(features) / config.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, max(1, steps))
    head.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
                 loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                 weighted_metrics=["accuracy"])

    def encoded(x, y, w):
        return x.astype(np.float32), keras.utils.to_categorical(y, N_CLASSES), w

    x, y, w = encoded(features, labels, weights)
    history = head.fit(x, y, sample_weight=w, batch_size=config.batch_size,
                       epochs=config.epochs, shuffle=True, verbose=0,
                       validation_data=encoded(*validation) if validation else None)
    return head, history.history


def join(backbone, head):
    """The deployable photo model: RGB pixels in (uint8 range), backbone, head, probabilities."""
    import keras

    return keras.Model(backbone.input, head(backbone.output), name="fashion_photo")
