"""The seeds' MLP: Flatten(784) -> Dense(128, ReLU) -> Dense(64, ReLU) -> Dense(10, softmax).

The [0, 1] scaling is the first layer, so the saved and deployed model takes raw 0-255 pixels.
Dropout is active only in training and converts to nothing, so the deployed graph is exactly
the seeds' architecture.
"""

from __future__ import annotations

import keras

INPUT_SHAPE = (28, 28)


def build_model(dropout: float = 0.0) -> keras.Model:
    """Return the uncompiled MLP; ``dropout`` is applied after each hidden layer in training."""
    layers = [
        keras.Input(INPUT_SHAPE, name="pixels"),
        keras.layers.Rescaling(1.0 / 255.0, name="scale_0_1"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(128, activation="relu", name="dense_128"),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(dropout, name="dropout_1"))
    layers.append(keras.layers.Dense(64, activation="relu", name="dense_64"))
    if dropout:
        layers.append(keras.layers.Dropout(dropout, name="dropout_2"))
    layers.append(keras.layers.Dense(10, activation="softmax", name="probabilities"))
    return keras.Sequential(layers, name="fashion_mlp")
