"""Input and output tensor specs of an interpreter, and the (de)quantization between them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT_HW = (28, 28)


class ModelInputError(ValueError):
    """The model's input is not a 28x28 single-channel image."""


@dataclass(frozen=True)
class TensorSpec:
    """What one tensor holds: index, shape, dtype and affine quantization (scale 0: none)."""

    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        """True for an integer tensor with a real scale."""
        return self.scale != 0.0

    def as_dict(self) -> dict:
        """The JSON form used in manifests."""
        return {"shape": list(self.shape), "dtype": np.dtype(self.dtype).name,
                "scale": self.scale, "zero_point": self.zero_point}


def _spec(details: dict) -> TensorSpec:
    scale, zero_point = details.get("quantization", (0.0, 0))
    return TensorSpec(int(details["index"]), tuple(int(d) for d in details["shape"]),
                      np.dtype(details["dtype"]), float(scale), int(zero_point))


def read_specs(interpreter, where: str = "model") -> tuple[TensorSpec, TensorSpec]:
    """The input and output specs; refuses a model whose input is not one 28x28 image."""
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    in_spec, out_spec = _spec(inp), _spec(out)
    squeezed = tuple(d for d in in_spec.shape if d != 1)
    if squeezed != INPUT_HW:
        raise ModelInputError(
            f"{where}: model input shape {list(in_spec.shape)}, expected 28x28 grayscale "
            "(e.g. [1, 28, 28])"
        )
    return in_spec, out_spec


def to_input(pixels: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Turn a 28x28 uint8 image (0-255, garment bright) into the model's input tensor."""
    if spec.dtype == np.uint8 and (spec.scale, spec.zero_point) == (1.0, 0):
        return pixels.reshape(spec.shape)  # the int8 model takes raw pixels as they are
    values = pixels.astype(np.float32).reshape(spec.shape)
    if not spec.quantized:
        return values.astype(spec.dtype)
    info = np.iinfo(spec.dtype)
    quantized = np.round(values / spec.scale + spec.zero_point)
    return np.clip(quantized, info.min, info.max).astype(spec.dtype)


def from_output(raw: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Class probabilities as float32 from the model's raw output tensor."""
    values = raw.astype(np.float32).reshape(-1)
    if spec.quantized:
        values = (values - spec.zero_point) * spec.scale
    return values
