"""A loaded model ready to invoke: interpreter plus tensor specs, prepared input in, probabilities out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.interpreter.backend import create_interpreter
from edge_runtime.interpreter.bundle import ManifestError, ModelBundle, load_bundle
from edge_runtime.interpreter.model_pages import release_model_pages
from edge_runtime.interpreter.tensors import from_output, image_layout, read_specs, to_input

BATCH_SIZE = 256  # images per invoke in a batch: big enough to amortise the call, small in memory


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
        # raw_scores's hot path takes raw pixels into a native interpreter behind the Python
        # one (LiteRT, tflite-runtime and TensorFlow all have it), at batch 1 (_hot).
        self._native_raw = self._raw_pixels and hasattr(self._interpreter, "_interpreter")
        self._hot = self._native_raw
        self._input_index, self._input_shape = self.input_spec.index, self.input_spec.shape
        self._output_index = self.output_spec.index
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
        self._hot = batch == 1 and self._native_raw

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
        if not self._hot:
            return self._raw_output(pixels).tolist()
        # The int8 models' hot path (raw pixels in) calls the native wrapper that set_tensor,
        # invoke and get_tensor wrap: their Python layer is 8% of an invoke, and its one check
        # (no live tensor() view while invoking) holds here, as this runner never makes one.
        # Looked up per call: a reference kept would count as such a view.
        native = self._interpreter._interpreter
        native.SetTensor(self._input_index, pixels[None])  # batch 1: half a reshape's cost
        native.Invoke()
        return native.GetTensor(self._output_index, 0).tolist()[0]

    def probabilities_batch(self, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """(N, classes) probabilities for N prepared images (for a model with another output,
        such as a feature extractor, its N outputs), ``batch_size`` per invoke (one per invoke
        for a model whose input cannot be resized)."""
        if self._interpreter is None:
            raise RuntimeError("model runner is closed; create a new one")
        images = np.asarray(images)
        out = np.empty((len(images), *self.output_spec.shape[1:]), np.float32)
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            out[start : start + len(chunk)] = self._invoke_batch(chunk)
        return out

    def _invoke_batch(self, chunk: np.ndarray) -> np.ndarray:
        if self._batchable and self._batch != len(chunk):
            try:
                self._resize(len(chunk))
            except (ValueError, RuntimeError):  # a model with a fixed batch dimension
                self._batchable = False
                self._resize(1)
        if not self._batchable:
            return np.stack([from_output(self._raw_output(x), self.output_spec) for x in chunk])
        shape = (len(chunk), *self.input_spec.shape[1:])
        self._interpreter.set_tensor(self.input_spec.index,
                                     to_input(chunk, self.input_spec).reshape(shape))
        self._interpreter.invoke()
        return from_output(self._interpreter.get_tensor(self.output_spec.index), self.output_spec)

    def close(self) -> None:
        """Release the interpreter."""
        self._interpreter, self._hot = None, False


@dataclass(frozen=True)
class LoadedModel:
    """A bundle and the runner made from it, checked against each other."""

    bundle: ModelBundle
    runner: ModelRunner


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
