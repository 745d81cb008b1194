"""The Python API: a classifier made from a model bundle, for image arrays."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edge_runtime.bundle import ModelBundle, load_bundle
from edge_runtime.predictions import Prediction, parse_output
from edge_runtime.runner import ModelRunner


class Classifier:
    """Classify image arrays: Fashion-MNIST-style 28x28 inputs, photos and camera frames.

    >>> with Classifier() as clf:                     # the shipped int8 model
    ...     clf.classify(image_array).label

    ``top_k`` candidates are kept per prediction; a top score below ``threshold`` gives
    ``unknown``. ``preprocess`` is ``auto``, ``fmnist`` or ``photo`` (see
    :mod:`edge_runtime.preprocess`).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        backend: str = "auto",
        num_threads: int = 1,
        top_k: int = 3,
        threshold: float = 0.0,
        preprocess: str = "auto",
    ) -> None:
        self.bundle: ModelBundle = load_bundle(model)
        self.runner = ModelRunner(self.bundle.path, backend, num_threads)
        self.top_k, self.threshold, self.preprocess = top_k, threshold, preprocess

    @property
    def backend(self) -> str:
        """The interpreter backend in use."""
        return self.runner.backend

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Release the interpreter."""
        self.runner.close()

    def classify_prepared(self, pixels: np.ndarray) -> Prediction:
        """Classify one prepared 28x28 uint8 input (garment bright on black)."""
        return parse_output(self.runner.probabilities(pixels), self.bundle.labels, self.top_k,
                            self.threshold)

    def prepare(self, image):
        """The :class:`~edge_runtime.preprocess.PreparedInput` made from an image array or
        :class:`~edge_runtime.imaging.DecodedImage`."""
        from edge_runtime.preprocess import prepare  # imports OpenCV: only when images come in

        return prepare(image, self.preprocess)

    def classify(self, image) -> Prediction:
        """Classify one image: a gray (H, W) or BGR (H, W, 3) uint8 array, or a DecodedImage."""
        return self.classify_prepared(self.prepare(image).pixels)

    def classify_batch(self, images: Iterable) -> list[Prediction]:
        """Classify several images, one prediction each, in order."""
        return [self.classify(image) for image in images]
