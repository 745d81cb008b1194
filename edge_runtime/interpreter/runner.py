"""A loaded model ready to invoke: interpreter plus tensor specs, prepared input in, probabilities out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_runtime.interpreter.backend import create_interpreter
from edge_runtime.interpreter.tensors import from_output, read_specs, to_input


class ModelRunner:
    """Invoke a TFLite model on prepared 28x28 uint8 inputs (model path or model bytes)."""

    def __init__(self, model: str | Path | bytes, backend: str = "auto", num_threads: int = 1):
        loaded = create_interpreter(model, backend, num_threads)
        self.backend = loaded.backend
        self._interpreter = loaded.interpreter
        where = "model bytes" if isinstance(model, (bytes, bytearray)) else str(model)
        self.input_spec, self.output_spec = read_specs(self._interpreter, where)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities (float32) for one 28x28 uint8 input, garment bright on black."""
        if self._interpreter is None:
            raise RuntimeError("model runner is closed")
        self._interpreter.set_tensor(self.input_spec.index, to_input(pixels, self.input_spec))
        self._interpreter.invoke()
        return from_output(self._interpreter.get_tensor(self.output_spec.index), self.output_spec)

    def probabilities_batch(self, images: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities for an (N, 28, 28) uint8 array, one invoke per image as on
        a device."""
        return np.stack([self.probabilities(x) for x in images])

    def close(self) -> None:
        """Release the interpreter."""
        self._interpreter = None
