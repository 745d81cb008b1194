"""Training settings, importable without TensorFlow (the CLI parses them before TF loads)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run of a 28x28 model (``arch``: ``mlp`` or ``cnn``,
    see :mod:`train.model`); same config and data give the same model on CPU."""

    arch: str = "mlp"
    epochs: int = 50
    batch_size: int = 128
    learning_rate: float = 1e-3
    dropout: float = 0.1
    label_smoothing: float = 0.1
    # Decoupled (AdamW) weight decay; per step the weights shrink by learning rate x this.
    weight_decay: float = 0.1
    validation_split: float = 0.1
    seed: int = 0
    limit: int | None = None
