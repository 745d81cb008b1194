"""A loaded model ready to invoke: interpreter plus tensor specs, prepared input in, probabilities out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edge_runtime.interpreter.backend import create_interpreter
from edge_runtime.interpreter.bundle import ManifestError, ModelBundle, load_bundle
from edge_runtime.interpreter.model_pages import release_model_pages
from edge_runtime.interpreter.tensors import (
    ImageLayout,
    TensorSpec,
    from_output,
    image_layout,
    read_specs,
    to_input,
)

BATCH_SIZE = 256  # images per invoke in a batch: big enough to amortise the call, small in memory


class Runner(Protocol):
    """What a :class:`~edge_runtime.classifier.Classifier` invokes: a :class:`ModelRunner`, or
    a stand-in that forwards to one (the server's
    :class:`~edge_runtime.interpreter.model_thread.ThreadRunner`)."""

    backend: str
    layout: ImageLayout
    output_spec: TensorSpec
    output_quantization: tuple[float, int] | None

    def probabilities(self, pixels: np.ndarray) -> np.ndarray: ...

    def raw_scores(self, pixels: np.ndarray) -> list: ...

    def raw_scores_batch(self, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray: ...

    def close(self) -> None: ...


class ModelRunner:
    """Invoke a TFLite model on prepared uint8 inputs (model path or model bytes).

    One image goes through the model's own batch-1 input; :meth:`probabilities_batch` resizes the
    input tensor to take up to :data:`BATCH_SIZE` images per invoke where the model allows it.
    Not thread-safe: give every thread its own runner.
    """

    def __init__(self, model: str | Path | bytes, backend: str = "auto",
                 num_threads: int | None = None):
        loaded = create_interpreter(model, backend, num_threads)
        self.backend = loaded.backend
        self._interpreter = loaded.interpreter
        self._model_path = None if isinstance(model, (bytes, bytearray)) else model
        where = "model bytes" if self._model_path is None else str(model)
        self.input_spec, self.output_spec = read_specs(self._interpreter, where)
        self.layout = image_layout(self.input_spec, where)
        self._batch = 1  # the batch size the input tensor is allocated for
        self._batchable = True
        self._raw_pixels = self.input_spec.passes_pixels
        spec = self.output_spec
        # (scale, zero point) of a quantized output, for dequantizing only what is reported.
        self.output_quantization = (spec.scale, spec.zero_point) if spec.quantized else None

    @property
    def n_outputs(self) -> int:
        """How many scores the model gives per image."""
        return int(self.output_spec.shape[-1])

    def _resize(self, batch: int) -> None:
        self._interpreter.resize_tensor_input(self.input_spec.index,
                                              [batch, *self.input_spec.shape[1:]])
        self._interpreter.allocate_tensors()
        if self._model_path is not None:  # XNNPACK packed the weights again, from the file
            release_model_pages(self._model_path)
        self._batch = batch

    def _raw_output(self, pixels: np.ndarray) -> np.ndarray:
        if self._interpreter is None:
            raise RuntimeError("model runner is closed; create a new one")
        if self._batch != 1:
            self._resize(1)
        spec = self.input_spec
        values = pixels if self._raw_pixels else to_input(pixels, spec)
        self._interpreter.set_tensor(spec.index, values.reshape(spec.shape))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self.output_spec.index)[0]

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities (float32) for one prepared image (the model's layout, uint8)."""
        return from_output(self._raw_output(pixels), self.output_spec)

    def raw_scores(self, pixels: np.ndarray) -> list:
        """The model's output for one image as plain numbers, still quantized where the output
        is (see ``output_quantization``): the decision sorts them as they are and dequantizes
        only the candidates it reports."""
        return self._raw_output(pixels).tolist()

    def raw_scores_batch(self, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """(N, classes) outputs for N prepared images, still quantized where the output is
        (as :meth:`raw_scores`), ``batch_size`` per invoke."""
        return self._batches(images, batch_size, raw=True)

    def probabilities_batch(self, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """(N, classes) probabilities for N prepared images (for a model with another output,
        such as a feature extractor, its N outputs), ``batch_size`` per invoke (one per invoke
        for a model whose input cannot be resized)."""
        return self._batches(images, batch_size, raw=False)

    def _batches(self, images: np.ndarray, batch_size: int, raw: bool) -> np.ndarray:
        if self._interpreter is None:
            raise RuntimeError("model runner is closed; create a new one")
        images = np.asarray(images)
        spec = self.output_spec
        out = np.empty((len(images), *spec.shape[1:]), spec.dtype if raw else np.float32)
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            scores = self._invoke_batch(chunk)
            out[start : start + len(chunk)] = scores if raw else from_output(scores, spec)
        return out

    def _invoke_batch(self, chunk: np.ndarray) -> np.ndarray:
        if self._batchable and self._batch != len(chunk):
            try:
                self._resize(len(chunk))
            except (ValueError, RuntimeError):  # a model with a fixed batch dimension
                self._batchable = False
                self._resize(1)
        if not self._batchable:
            return np.stack([self._raw_output(x) for x in chunk])
        shape = (len(chunk), *self.input_spec.shape[1:])
        self._interpreter.set_tensor(self.input_spec.index,
                                     to_input(chunk, self.input_spec).reshape(shape))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self.output_spec.index)

    def close(self) -> None:
        """Release the interpreter."""
        self._interpreter = None


@dataclass(frozen=True)
class LoadedModel:
    """A bundle and the runner made from it, checked against each other."""

    bundle: ModelBundle
    runner: Runner


def load_model(path: str | Path | None = None, backend: str = "auto",
               num_threads: int | None = None) -> LoadedModel:
    """Load a bundle (the shipped default for None), create its runner, and refuse a manifest
    whose label count differs from the model's number of outputs."""
    bundle = load_bundle(path)
    runner = ModelRunner(bundle.path, backend, num_threads)
    if len(bundle.labels) != runner.n_outputs:
        runner.close()
        raise ManifestError(f"{bundle.path}: manifest has {len(bundle.labels)} labels but the "
                            f"model gives {runner.n_outputs} scores per image")
    return LoadedModel(bundle, runner)
