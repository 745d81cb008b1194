"""The two 28x28 architectures: the seeds' MLP (the product's default) and a small CNN.

Both take raw 0-255 pixels, (N, 28, 28): the [0, 1] scaling is the first layer, so every later
stage feeds the image as it is. Dropout is active only in training and batch normalisation
folds into the convolutions when converted, so the deployed graphs are exactly the ones below.

- ``mlp``: Flatten(784) -> Dense(128, ReLU) -> Dense(64, ReLU) -> Dense(10, softmax).
- ``cnn``: three blocks of 3x3 convolution, batch normalisation and ReLU (32, 64 and 96
  filters at 28x28, 14x14 and 7x7: 2x2 max pooling after the first two), then the 7x7x96 map
  flattened into Dense(10, softmax). 122k parameters (an int8 file of about 130 KB), 6.6 million
  multiply-adds per image: tens of microseconds as int8 on one core. The small dense head keeps
  where in the picture a feature is (sleeve or no sleeve, collar, heel), which global average
  pooling would throw away: 2 points of validation accuracy here.
"""

from __future__ import annotations

import keras

INPUT_SHAPE = (28, 28)
CNN_FILTERS = (32, 64, 96)
DESCRIPTIONS = {
    "mlp": "MLP 784-128-64-10",
    "cnn": "CNN 3x3 conv " + "-".join(map(str, CNN_FILTERS)) + " (batch norm, ReLU, 2x2 max "
           "pool after the first two), flatten, dense 10",
}
ARCHITECTURES = tuple(DESCRIPTIONS)


def build_model(arch: str = "mlp", dropout: float = 0.0) -> keras.Model:
    """Return the uncompiled model of ``arch`` (``mlp`` or ``cnn``); ``dropout`` is applied in
    training only (after each hidden layer of the MLP, before the CNN's dense layer)."""
    if arch == "mlp":
        return build_mlp(dropout)
    if arch == "cnn":
        return build_cnn(dropout)
    raise ValueError(f"unknown architecture {arch!r}, expected one of {ARCHITECTURES}")


def build_mlp(dropout: float = 0.0) -> keras.Model:
    """The seeds' 784-128-64-10 MLP."""
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


def build_cnn(dropout: float = 0.0, filters: tuple[int, ...] = CNN_FILTERS) -> keras.Model:
    """The small CNN: one 3x3 convolution block per entry of ``filters``, pooled between,
    and a dense layer on the last block's flattened map."""
    layers = [
        keras.Input(INPUT_SHAPE, name="pixels"),
        keras.layers.Rescaling(1.0 / 255.0, name="scale_0_1"),
        keras.layers.Reshape((*INPUT_SHAPE, 1), name="channel"),
    ]
    for block, width in enumerate(filters, 1):
        # No bias: the batch normalisation that follows has its own offset.
        layers += [keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                       name=f"conv_{block}"),
                   keras.layers.BatchNormalization(name=f"norm_{block}"),
                   keras.layers.ReLU(name=f"relu_{block}")]
        if block < len(filters):
            layers.append(keras.layers.MaxPooling2D(name=f"pool_{block}"))
    layers.append(keras.layers.Flatten(name="flatten"))
    if dropout:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    layers.append(keras.layers.Dense(10, activation="softmax", name="probabilities"))
    return keras.Sequential(layers, name="fashion_cnn")
