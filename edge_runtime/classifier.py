"""The Python API: a classifier made from model bundles, for image arrays."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.backend import BACKENDS, BackendUnavailableError, ModelLoadError
from edge_runtime.interpreter.bundle import (
    GARMENT_MODEL_NAME,
    PHOTO_MODEL_NAME,
    ManifestError,
    ModelBundle,
    ModelIntegrityError,
    default_model_path,
    load_bundle,
)
from edge_runtime.interpreter.runner import LoadedModel, load_model
from edge_runtime.interpreter.tensors import INPUT_HW, ImageLayout, ModelInputError
from edge_runtime.media.decoded import as_image
from edge_runtime.photo.preprocess import PreparedInput, choose_mode, photo_decode_side, prepare_as
from edge_runtime.photo.blend import blend, garment_weight
from edge_runtime.predictions import DecisionRule, Prediction, decide

# What Classifier() raises for a model it cannot use; CLIs report these in one line.
MODEL_ERRORS = (FileNotFoundError, ModelIntegrityError, ManifestError, ModelInputError,
                ModelLoadError, BackendUnavailableError)
PREPROCESS_MODES = ("auto", "fmnist", "photo")
_UINT8 = np.dtype(np.uint8)  # the dtype object of uint8 arrays, compared by identity


@dataclass(frozen=True)
class ClassifierOptions:
    """How a :class:`Classifier` is made. Picklable, so that every thread or process (the web
    server's workers, Ray actors) can make its own classifier from the same options.

    ``model``: the model for Fashion-MNIST-style inputs (default: the shipped int8 MLP).
    ``photo_model``: the model for photos and camera frames (default: ``model`` when it is
    given, else the shipped photo model). ``garment_model``: the 28x28 model whose reading of a
    photo's garment, rendered the Fashion-MNIST way, is blended into an RGB photo model's
    decision (:mod:`edge_runtime.photo.blend`; default: the shipped int8 CNN). ``num_threads``:
    each interpreter's threads (None: the backend's default,
    :func:`~edge_runtime.interpreter.backend.default_threads`). ``top_k``
    candidates are kept per prediction; a top score below ``threshold`` gives no label.
    ``preprocess``: ``auto``, ``fmnist`` or ``photo`` (:mod:`edge_runtime.photo.preprocess`).
    """

    model: str | Path | None = None
    photo_model: str | Path | None = None
    garment_model: str | Path | None = None
    backend: str = "auto"
    num_threads: int | None = None
    top_k: int = 3
    threshold: float = 0.0
    preprocess: str = "auto"

    def __post_init__(self) -> None:
        if self.backend not in ("auto", *BACKENDS):
            raise ValueError(f"backend {self.backend!r}, expected auto or one of {BACKENDS}")
        if self.preprocess not in PREPROCESS_MODES:
            raise ValueError(f"preprocess {self.preprocess!r}, expected one of {PREPROCESS_MODES}")
        if (self.num_threads is not None and self.num_threads < 1) or self.top_k < 1:
            raise ValueError(f"num_threads {self.num_threads} and top_k {self.top_k}: "
                             "both must be >= 1")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold {self.threshold}, expected a value within 0..1")


def _shipped(name: str) -> Path | None:
    """The shipped bundle ``name``, or None where it is not installed."""
    path = default_model_path(name)
    return path if path.is_file() else None


class Classifier:
    """Classify image arrays: Fashion-MNIST-style 28x28 inputs, photos and camera frames.

    >>> with Classifier(top_k=3) as clf:               # the shipped models
    ...     clf.classify(bgr_array).label

    Options are keyword-only (see :class:`ClassifierOptions`). Not thread-safe: an interpreter
    must not be shared across threads, so give each thread its own classifier. ``loader``
    makes the models (default: this classifier's own interpreters); a
    :class:`~edge_runtime.interpreter.model_thread.ModelThread`'s ``load_model`` lets the
    classifiers of several threads share one interpreter per model, kept on its own thread.
    """

    def __init__(self, model: str | Path | None = None, *, photo_model: str | Path | None = None,
                 garment_model: str | Path | None = None, backend: str = "auto",
                 num_threads: int | None = None, top_k: int = 3, threshold: float = 0.0,
                 preprocess: str = "auto",
                 loader: Callable[..., LoadedModel] = load_model) -> None:
        self.options = ClassifierOptions(model, photo_model, garment_model, backend, num_threads,
                                         top_k, threshold, preprocess)
        self._load = loader
        self._main: LoadedModel = loader(model, backend, num_threads)
        if photo_model is None and model is None:
            photo_model = _shipped(PHOTO_MODEL_NAME)
        # The photo and garment models' bundles are checked now; their interpreters open on the
        # first photo, so a batch of Fashion-MNIST-style images never pays for them.
        self.photo_bundle: ModelBundle = (load_bundle(photo_model) if photo_model is not None
                                          else self._main.bundle)
        garment_model = garment_model or _shipped(GARMENT_MODEL_NAME)
        self.garment_bundle: ModelBundle | None = (load_bundle(garment_model) if garment_model
                                                   else None)
        self._photo: LoadedModel | None = None if photo_model is not None else self._main
        self._garment: LoadedModel | None = None
        self._main_rule = self._rule(self._main)
        self._photo_rule = self._main_rule if self._photo is self._main else None
        self._closed = False
        # A Fashion-MNIST main model takes a 28x28 array untouched (see classify; None: it does
        # not).
        self._as_is = (self._main.runner.raw_scores
                       if preprocess != "photo" and self._main.runner.layout.is_fmnist else None)

    @classmethod
    def from_options(cls, options: ClassifierOptions,
                     loader: Callable[..., LoadedModel] = load_model) -> Classifier:
        """A classifier made from :class:`ClassifierOptions` (``loader``: see the class)."""
        fields = asdict(options)
        return cls(fields.pop("model"), **fields, loader=loader)

    @property
    def bundle(self) -> ModelBundle:
        """The bundle of the model for Fashion-MNIST-style inputs."""
        return self._main.bundle

    @property
    def backend(self) -> str:
        """The interpreter backend in use."""
        return self._main.runner.backend

    @property
    def top_k(self) -> int:
        """Candidates kept per prediction."""
        return self.options.top_k

    @property
    def preprocess(self) -> str:
        """``auto``, ``fmnist`` or ``photo``."""
        return self.options.preprocess

    @property
    def photo_decode_side(self) -> int:
        """The least short side a photo file must be decoded at for the photo model."""
        shape = ((self.photo_bundle.manifest or {}).get("input") or {}).get("shape")
        layout = ImageLayout(shape[1], shape[2], shape[3]) if shape and len(shape) == 4 else None
        return photo_decode_side(layout)

    def _rule(self, loaded: LoadedModel) -> DecisionRule:
        options = self.options
        runner = loaded.runner
        return DecisionRule(loaded.bundle.labels, options.top_k, options.threshold,
                            runner.output_quantization, runner.output_spec.dtype == np.uint8)

    def _model(self, mode: str) -> LoadedModel:
        if self._closed:
            raise RuntimeError("classifier is closed; create a new one")
        if mode != "photo":
            return self._main
        if self._photo is None:
            options = self.options
            photo = self._load(self.photo_bundle.path, options.backend, options.num_threads)
            if self.garment_bundle is not None and not photo.runner.layout.is_fmnist:
                garment = self._load(self.garment_bundle.path, options.backend,
                                     options.num_threads)
                if not garment.runner.layout.is_fmnist:
                    raise ModelInputError(f"{self.garment_bundle.path}: the garment model must "
                                          f"take a 28x28 grayscale image, not "
                                          f"{list(garment.runner.input_spec.shape)}")
                self._garment = garment
            self._photo, self._photo_rule = photo, self._rule(photo)
        return self._photo

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Release the interpreters; any later use raises RuntimeError."""
        if self._closed:
            return
        self._closed, self._as_is = True, None
        for loaded in {id(m): m for m in (self._main, self._photo, self._garment) if m}.values():
            loaded.runner.close()

    def prepare(self, image, *, mode: str | None = None,
                scene: np.ndarray | None = None) -> PreparedInput:
        """The input made from an image (a gray, BGR or BGRA uint8 array, or a DecodedImage)
        for the model that will read it. ``mode`` overrides the classifier's preprocess option
        (the live loop sends ``photo``); ``scene`` is a static camera's empty scene."""
        image = as_image(image)
        mode = choose_mode(image, mode or self.options.preprocess)
        return prepare_as(image, mode, self._model(mode).runner.layout, scene)

    def probabilities(self, prepared: PreparedInput) -> np.ndarray | None:
        """Class probabilities of a prepared input from the model of its path (for a photo
        blended with the garment model's on its garment); None when the photo path found no
        garment."""
        if not prepared.garment_found:
            return None
        probabilities = self._model(prepared.mode).runner.probabilities(prepared.pixels)
        if self._blends(prepared):
            probabilities = blend(probabilities,
                                  self._garment.runner.probabilities(prepared.garment),
                                  garment_weight(prepared.studio))
        return probabilities

    def _blends(self, prepared: PreparedInput) -> bool:
        # A photo's decision blends in the garment model (edge_runtime.photo.blend).
        return prepared.garment is not None and self._garment is not None

    def decide(self, probabilities: np.ndarray | None, mode: str = "photo") -> Prediction:
        """The prediction for probabilities from the model of ``mode`` (None: no garment), with
        this classifier's labels, top-k and threshold: the rule for files, frames and
        ``fashion-evaluate`` alike."""
        labels = (self.photo_bundle if mode == "photo" else self._model(mode).bundle).labels
        return decide(probabilities, labels, self.options.top_k, self.options.threshold)

    def predict(self, prepared: PreparedInput) -> Prediction:
        """The prediction for one prepared input (by :func:`~edge_runtime.predictions.decide`,
        on the model's raw output, or on a photo's blended probabilities)."""
        if not prepared.garment_found or self._blends(prepared):
            return self.decide(self.probabilities(prepared), prepared.mode)
        runner = self._model(prepared.mode).runner
        rule = self._photo_rule if prepared.mode == "photo" else self._main_rule
        return rule(runner.raw_scores(prepared.pixels))

    def classify(self, image) -> Prediction:
        """Classify one image: a gray (H, W), BGR (H, W, 3) or BGRA uint8 array, or a
        DecodedImage. TypeError or ValueError for an array that is not an image."""
        as_is = self._as_is
        if (as_is is not None and type(image) is np.ndarray and image.dtype is _UINT8
                and image.shape == INPUT_HW):
            # A 28x28 uint8 array is the model's input as it is: what prepare and predict
            # would do, without the records between them (they cost as much as the invoke).
            return self._main_rule(as_is(image))
        return self.predict(self.prepare(image))

    def classify_batch(self, images: Iterable) -> list[Prediction]:
        """Classify several images, one prediction each, in order; the inputs of each model go
        through it in batches (one invoke per batch, where the model allows it)."""
        prepared = [self.prepare(image) for image in images]
        predictions: list[Prediction | None] = [None] * len(prepared)
        for mode in ("fmnist", "photo"):
            rows = [i for i, p in enumerate(prepared) if p.mode == mode and p.garment_found]
            if rows:
                runner = self._model(mode).runner
                scores = runner.probabilities_batch(np.stack([prepared[i].pixels for i in rows]))
                blended = [n for n, i in enumerate(rows) if self._blends(prepared[i])]
                if blended:
                    garments = np.stack([prepared[rows[n]].garment for n in blended])
                    weights = np.array([[garment_weight(prepared[rows[n]].studio)]
                                        for n in blended], np.float32)
                    scores[blended] = blend(scores[blended],
                                            self._garment.runner.probabilities_batch(garments),
                                            weights)
                for i, row in zip(rows, scores):
                    predictions[i] = self.decide(row, mode)
        return [p if p is not None else self.decide(None) for p in predictions]
