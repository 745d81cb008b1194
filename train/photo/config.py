"""The photo model's training settings, importable without TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhotoTrainConfig:
    """Everything that decides a photo-model training run (see ``fashion-train --help``)."""

    input_size: int = 224  # the square RGB input of the backbone
    views: int = 4  # per real photo: as shot plus views - 1 re-shoots
    renders_per_class: int = 1000  # Fashion-MNIST garments rendered per class (half studio)
    holdout_fold: int = 0  # the fold of every scored photo set kept out of training
    # Leave one source out: a photo source (a set's source, e.g. "hm") kept out of training
    # whole; then no fold is held out.
    holdout_source: str | None = None
    balance: float = 1.0  # class c weighs n_c ** -balance among the real photos
    render_weight: float = 1.0  # all renderings together, against all real photos
    # Fine-tune the backbone from this block on (16 blocks; 15: its last stage; 14: that and the
    # last block before it, which cross-validation chose); below it the backbone stays as
    # ImageNet trained it.
    fine_tune_from: int = 14
    # Share of the training views whose feature maps come from a full-integer (int8) copy of
    # the frozen part, as the shipped model computes them: the fine-tuned top learns the
    # features a device gives it, not only TensorFlow's float ones.
    int8_share: float = 0.5
    hidden: int = 512  # units of a hidden layer in the head; 0: a linear head
    dropout: float = 0.2
    epochs: int = 6
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    seed: int = 0
