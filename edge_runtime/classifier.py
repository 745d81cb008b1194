"""The Python API: a classifier made from a model bundle, for image arrays."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.backend import BackendUnavailableError, ModelLoadError
from edge_runtime.interpreter.bundle import (
    PHOTO_MODEL_NAME,
    ManifestError,
    ModelBundle,
    ModelIntegrityError,
    default_model_path,
    load_bundle,
)
from edge_runtime.predictions import UNKNOWN, Prediction, parse_output
from edge_runtime.interpreter.runner import ModelRunner
from edge_runtime.interpreter.tensors import ModelInputError

# What Classifier() raises for a model it cannot use; CLIs report these in one line.
MODEL_ERRORS = (FileNotFoundError, ModelIntegrityError, ManifestError, ModelInputError,
                ModelLoadError, BackendUnavailableError)


class Classifier:
    """Classify image arrays: Fashion-MNIST-style 28x28 inputs, photos and camera frames.

    >>> with Classifier() as clf:                     # the shipped int8 model
    ...     clf.classify(image_array).label

    ``top_k`` candidates are kept per prediction; a top score below ``threshold`` gives
    ``unknown``. ``preprocess`` is ``auto``, ``fmnist`` or ``photo`` (see
    :mod:`edge_runtime.photo.preprocess`). Inputs prepared by the photo path go to ``photo_model``:
    by default, when ``model`` is not given either, the shipped photo-robust model; otherwise
    the same model as everything else.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        backend: str = "auto",
        num_threads: int = 1,
        top_k: int = 3,
        threshold: float = 0.0,
        preprocess: str = "auto",
        photo_model: str | Path | None = None,
    ) -> None:
        self.bundle: ModelBundle = load_bundle(model)
        self.runner = ModelRunner(self.bundle.path, backend, num_threads)
        if photo_model is None and model is None:
            shipped = default_model_path(PHOTO_MODEL_NAME)
            photo_model = shipped if shipped.is_file() else None
        self.photo_bundle = load_bundle(photo_model) if photo_model is not None else self.bundle
        self._photo_runner: ModelRunner | None = None if photo_model is not None else self.runner
        self._backend, self._num_threads = backend, num_threads
        self.top_k, self.threshold, self.preprocess = top_k, threshold, preprocess

    @property
    def photo_runner(self) -> ModelRunner:
        """The runner for photo-path inputs, created on the first photo: a batch of
        Fashion-MNIST-style images never pays for a second interpreter."""
        if self._photo_runner is None:
            self._photo_runner = ModelRunner(self.photo_bundle.path, self._backend,
                                             self._num_threads)
        return self._photo_runner

    @property
    def backend(self) -> str:
        """The interpreter backend in use."""
        return self.runner.backend

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Release the interpreters."""
        self.runner.close()
        if self._photo_runner is not None:
            self._photo_runner.close()

    def classify_prepared(self, pixels: np.ndarray) -> Prediction:
        """Classify one prepared 28x28 uint8 input (garment bright on black) with the main model."""
        return parse_output(self.runner.probabilities(pixels), self.bundle.labels, self.top_k,
                            self.threshold)

    def probabilities(self, prepared) -> np.ndarray:
        """Class probabilities of a :class:`~edge_runtime.photo.preprocess.PreparedInput`, from the
        photo model when the photo path made it."""
        runner = self.photo_runner if prepared.mode == "photo" else self.runner
        return runner.probabilities(prepared.pixels)

    def predict(self, prepared) -> Prediction:
        """The prediction for a :class:`~edge_runtime.photo.preprocess.PreparedInput`; ``unknown`` with
        score 0 when the photo path found no garment at all."""
        if prepared.mask is not None and not prepared.mask.any():
            return Prediction(UNKNOWN, -1, 0.0, ())
        bundle = self.photo_bundle if prepared.mode == "photo" else self.bundle
        return parse_output(self.probabilities(prepared), bundle.labels, self.top_k,
                            self.threshold)

    def prepare(self, image):
        """The :class:`~edge_runtime.photo.preprocess.PreparedInput` made from an image array or
        :class:`~edge_runtime.media.imaging.DecodedImage`."""
        from edge_runtime.photo.preprocess import prepare  # imports OpenCV: only when images come in

        return prepare(image, self.preprocess)

    def classify(self, image) -> Prediction:
        """Classify one image: a gray (H, W) or BGR (H, W, 3) uint8 array, or a DecodedImage."""
        return self.predict(self.prepare(image))

    def classify_batch(self, images: Iterable) -> list[Prediction]:
        """Classify several images, one prediction each, in order."""
        return [self.classify(image) for image in images]
