"""Training settings, importable without TensorFlow (the CLI parses them before TF loads)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; same config and data give the same model on CPU."""

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
    # The photo-robust variant (this > 0 or real_photos set): rendered originals plus this many
    # augmented copies of every training image (train/augment.py); validation is augmented too.
    photo_copies: int = 0
    # A folder of labelled real photos (fashion-evaluate's layout) whose photos outside
    # ``holdout_fold`` join the training data, each rendered ``real_photo_copies`` times
    # (train/real_photos.py).
    real_photos: str | None = None
    real_photo_copies: int = 160
    holdout_fold: int = 0
