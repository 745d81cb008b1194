"""What the photo model trains: the backbone's last stage(s), from block ``fine_tune_from`` on,
and a head on their pooled features, fitted on cached feature maps of the frozen part.

Batch normalisation in the fine-tuned blocks keeps its ImageNet statistics (inference mode):
with a few thousand photos, re-estimating them would only add noise. Sample weights balance the
classes among the real photos (the photo source has 14 ankle boots for 971 T-shirts) and set how
much the renderings count against them.
"""

from __future__ import annotations

import time

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


def _epoch(maps, labels, weights, batch_size: int, rng: np.random.Generator | None = None,
           int8_maps: np.ndarray | None = None, int8_share: float = 0.0):
    """One pass over the rows as (x, one-hot y, w) arrays whose consecutive ``batch_size`` rows
    are one batch: shuffled when ``rng`` is given (each batch's rows in ascending order), and
    with ``int8_maps`` (and ``rng``) each row's map taken from them with probability
    ``int8_share``. Arrays, not a generator: Keras feeds a generator through tf.data's Python
    bridge, which doubled the time of every training step on 2 cores."""
    import keras

    if rng is None:
        batches = [np.arange(len(maps))]
    else:
        order = rng.permutation(len(maps))
        batches = [np.sort(order[start : start + batch_size])
                   for start in range(0, len(order), batch_size)]
    rows = np.concatenate(batches)
    x = maps[rows]  # the float16 cache: the model casts each batch to float32, exactly
    if int8_maps is not None and rng is not None:
        swap = np.concatenate([rng.random(len(batch)) < int8_share for batch in batches])
        x[swap] = int8_maps[rows[swap]]
    return x, keras.utils.to_categorical(labels[rows], N_CLASSES), weights[rows]


def train_top(backbone, maps: np.ndarray, labels: np.ndarray, weights: np.ndarray,
              config: PhotoTrainConfig, validation: tuple | None = None,
              int8_maps: np.ndarray | None = None):
    """Fine-tune the backbone from block ``fine_tune_from`` on (in place: the layers are the
    backbone's own) and fit a new head on (N, ...) feature maps of the frozen part; with
    ``int8_maps`` (the same rows through the int8 frozen part) a share ``int8_share`` of each
    batch is taken from those. ``validation`` (maps, labels, weights) is measured after every
    epoch. Returns the head, the trainable model (feature map in, probabilities out) and the
    training history."""
    import keras
    import tensorflow as tf

    from train.photo.efficientnet_lite import split_at_block

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()  # same photos, same seed: same model
    _, top = split_at_block(backbone, config.fine_tune_from)
    head = build_head(config, top.output.shape[-1])
    maps_in = keras.Input(maps.shape[1:], name="feature_map")
    model = keras.Model(maps_in, head(top(maps_in, training=False)), name="photo_top")
    steps = int(np.ceil(len(maps) / config.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate,
                                                      max(1, config.epochs * steps))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                  weighted_metrics=["accuracy"])

    def dataset(arrays):  # tf.data keeps one copy; Keras's array adapter took 3x the memory
        return tf.data.Dataset.from_tensor_slices(arrays).batch(config.batch_size)

    fit_validation = {}
    if validation is not None and len(validation[0]):
        fit_validation = {"validation_data": dataset(_epoch(*validation, config.batch_size))}
    rng, history = np.random.default_rng(config.seed), {}
    for epoch in range(config.epochs):  # one fit per pass: each pass's arrays are made anew
        start = time.perf_counter()
        train_set = dataset(_epoch(maps, labels, weights, config.batch_size, rng, int8_maps,
                                   config.int8_share))
        logs = model.fit(train_set, shuffle=False, verbose=0, **fit_validation).history
        for key, values in logs.items():
            history.setdefault(key, []).extend(values)
        figures = ", ".join(f"{key} {values[-1]:.4f}" for key, values in logs.items())
        print(f"epoch {epoch + 1}/{config.epochs}: {figures} ({time.perf_counter() - start:.0f} s)",
              flush=True)
    return head, model, history


def join(backbone, head):
    """The deployable photo model: RGB pixels in (uint8 range), backbone, head, probabilities."""
    import keras

    return keras.Model(backbone.input, head(backbone.output), name="fashion_photo")
