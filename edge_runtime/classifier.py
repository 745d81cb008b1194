"""The Python API: a classifier made from model bundles, for image arrays."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.backend import BACKENDS, BackendUnavailableError, ModelLoadError
from edge_runtime.interpreter.bundle import (
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
from edge_runtime.photo.preprocess import (
    MODES,
    PreparedInput,
    choose_mode,
    photo_decode_side,
    prepare_as,
)
from edge_runtime.predictions import DecisionRule, Prediction

# What Classifier() raises for a model it cannot use; CLIs report these in one line.
MODEL_ERRORS = (FileNotFoundError, ModelIntegrityError, ManifestError, ModelInputError,
                ModelLoadError, BackendUnavailableError)
_UINT8 = np.dtype(np.uint8)  # the dtype object of uint8 arrays, compared by identity


@dataclass(frozen=True)
class ClassifierOptions:
    """How a :class:`Classifier` is made. Picklable, so that every thread or process (the web
    server's workers, Ray actors) can make its own classifier from the same options; ValueError
    for a value out of range.

    ``model``: the model for Fashion-MNIST-style inputs (default: the shipped int8 MLP).
    ``photo_model``: the model for photos and camera frames (default: ``model`` when it is
    given, else the shipped photo model). ``num_threads``: each interpreter's threads (None: the
    backend's default, :func:`~edge_runtime.interpreter.backend.default_threads`). ``top_k``
    candidates are kept per prediction; a top score below ``threshold`` gives no label.
    ``preprocess``: ``auto``, ``fmnist`` or ``photo`` (:mod:`edge_runtime.photo.preprocess`).
    """

    model: str | Path | None = None
    photo_model: str | Path | None = None
    backend: str = "auto"
    num_threads: int | None = None
    top_k: int = 3
    threshold: float = 0.0
    preprocess: str = "auto"

    def __post_init__(self) -> None:
        if self.backend not in ("auto", *BACKENDS):
            raise ValueError(f"backend {self.backend!r}, expected auto or one of {BACKENDS}")
        if self.preprocess not in MODES:
            raise ValueError(f"preprocess {self.preprocess!r}, expected one of {MODES}")
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

    Every input goes one way: :meth:`prepare` (the input its model expects), the model's raw
    output, and the model's :class:`~edge_runtime.predictions.DecisionRule`. Options are
    keyword-only (see :class:`ClassifierOptions`). Not thread-safe: an interpreter must not be
    shared across threads, so give each thread its own classifier. ``loader`` makes the models
    (default: this classifier's own interpreters); a
    :class:`~edge_runtime.interpreter.model_thread.ModelThread`'s ``load_model`` lets the
    classifiers of several threads share one interpreter per model, kept on its own thread.
    """

    def __init__(self, model: str | Path | None = None, *, photo_model: str | Path | None = None,
                 backend: str = "auto", num_threads: int | None = None, top_k: int = 3,
                 threshold: float = 0.0, preprocess: str = "auto",
                 loader: Callable[..., LoadedModel] = load_model) -> None:
        self.options = ClassifierOptions(model, photo_model, backend, num_threads, top_k,
                                         threshold, preprocess)
        self._load = loader
        main = loader(model, backend, num_threads)
        if photo_model is None and model is None:
            photo_model = _shipped(PHOTO_MODEL_NAME)
        # The photo model's bundle is checked now; its interpreter opens on the first photo, so
        # a batch of Fashion-MNIST-style images never pays for it.
        self.photo_bundle: ModelBundle = (load_bundle(photo_model) if photo_model is not None
                                          else main.bundle)
        self._models: dict[str, LoadedModel | None] = {
            "fmnist": main, "photo": None if photo_model is not None else main}
        self._rules: dict[str, DecisionRule] = {}
        self._closed = False
        # A 28x28 uint8 array is a Fashion-MNIST main model's input as it is (see classify).
        self._takes_fmnist = preprocess != "photo" and main.runner.layout.is_fmnist

    @classmethod
    def from_options(cls, options: ClassifierOptions,
                     loader: Callable[..., LoadedModel] = load_model) -> Classifier:
        """A classifier made from :class:`ClassifierOptions` (``loader``: see the class)."""
        fields = asdict(options)
        return cls(fields.pop("model"), **fields, loader=loader)

    @property
    def bundle(self) -> ModelBundle:
        """The bundle of the model for Fashion-MNIST-style inputs."""
        return self._models["fmnist"].bundle

    @property
    def backend(self) -> str:
        """The interpreter backend in use."""
        return self._models["fmnist"].runner.backend

    @property
    def photo_decode_side(self) -> int:
        """The least short side a photo file must be decoded at for the photo model."""
        shape = ((self.photo_bundle.manifest or {}).get("input") or {}).get("shape")
        layout = ImageLayout(shape[1], shape[2], shape[3]) if shape and len(shape) == 4 else None
        return photo_decode_side(layout)

    def _model(self, mode: str) -> LoadedModel:
        if self._closed:
            raise RuntimeError("classifier is closed; create a new one")
        loaded = self._models[mode]
        if loaded is None:
            options = self.options
            loaded = self._models[mode] = self._load(self.photo_bundle.path, options.backend,
                                                     options.num_threads)
        return loaded

    def _rule(self, mode: str) -> DecisionRule:
        rule = self._rules.get(mode)
        if rule is None:
            loaded, options = self._model(mode), self.options
            runner = loaded.runner
            rule = self._rules[mode] = DecisionRule(
                loaded.bundle.labels, options.top_k, options.threshold,
                runner.output_quantization, runner.output_spec.dtype == np.uint8)
        return rule

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Release the interpreters; any later use raises RuntimeError."""
        if self._closed:
            return
        self._closed, self._takes_fmnist = True, False
        for loaded in {id(m): m for m in self._models.values() if m}.values():
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
        """Class probabilities of a prepared input from the model of its path; None when no
        garment is in view. For a caller that combines them (the live loop smooths them over
        frames) before :meth:`decide`."""
        if not prepared.garment_found:
            return None
        return self._model(prepared.mode).runner.probabilities(prepared.pixels)

    def decide(self, probabilities: np.ndarray | None, mode: str = "photo") -> Prediction:
        """The prediction for class probabilities from the model of ``mode`` (None: no
        garment), by the same rule as :meth:`predict`."""
        return self._rule(mode).decide(probabilities)

    def predict(self, prepared: PreparedInput) -> Prediction:
        """The prediction for one prepared input."""
        rule = self._rule(prepared.mode)
        if not prepared.garment_found:
            return rule.decide(None)
        return rule(self._model(prepared.mode).runner.raw_scores(prepared.pixels))

    def classify(self, image) -> Prediction:
        """Classify one image: a gray (H, W), BGR (H, W, 3) or BGRA uint8 array, or a
        DecodedImage. TypeError or ValueError for an array that is not an image."""
        if (self._takes_fmnist and type(image) is np.ndarray and image.dtype is _UINT8
                and image.shape == INPUT_HW):
            # What predict(prepare(image)) does for an array that is the model's input as it
            # is, without the records between (they cost as much as the invoke).
            return self._rule("fmnist")(self._models["fmnist"].runner.raw_scores(image))
        return self.predict(self.prepare(image))

    def classify_batch(self, images: Iterable) -> list[Prediction]:
        """Classify several images, one prediction each, in order; the inputs of each model go
        through it in batches (one invoke per batch, where the model allows it)."""
        prepared = [self.prepare(image) for image in images]
        predictions: list[Prediction | None] = [None] * len(prepared)
        for mode in ("fmnist", "photo"):
            rows = [i for i, p in enumerate(prepared) if p.mode == mode]
            if not rows:
                continue
            rule = self._rule(mode)
            found = [i for i in rows if prepared[i].garment_found]
            if found:
                scores = self._model(mode).runner.raw_scores_batch(
                    np.stack([prepared[i].pixels for i in found]))
                for i, row in zip(found, scores.tolist()):
                    predictions[i] = rule(row)
            for i in rows:
                if predictions[i] is None:
                    predictions[i] = rule.decide(None)
        return predictions
