"""Input and output tensor specs of an interpreter, and the (de)quantization between them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT_HW = (28, 28)


class ModelInputError(ValueError):
    """The model's input is not an image this runtime can prepare: 28x28 grayscale, or RGB."""


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

    @property
    def passes_pixels(self) -> bool:
        """True when raw uint8 pixels are the tensor's values as they are (scale 1, zero point
        0): the full-integer models take them without any conversion."""
        return self.dtype == np.uint8 and self.scale == 1.0 and self.zero_point == 0

    def as_dict(self) -> dict:
        """The JSON form used in manifests."""
        return {"shape": list(self.shape), "dtype": np.dtype(self.dtype).name,
                "scale": self.scale, "zero_point": self.zero_point}


@dataclass(frozen=True)
class ImageLayout:
    """The image a model takes, batch dimension aside: 28x28 grayscale (Fashion-MNIST style,
    garment bright on black) or an RGB photo of ``height`` x ``width``."""

    height: int
    width: int
    channels: int

    @property
    def is_fmnist(self) -> bool:
        """True for the 28x28 single-channel input of the Fashion-MNIST models."""
        return (self.height, self.width, self.channels) == (*INPUT_HW, 1)


def _spec(details: dict) -> TensorSpec:
    scale, zero_point = details.get("quantization", (0.0, 0))
    return TensorSpec(int(details["index"]), tuple(int(d) for d in details["shape"]),
                      np.dtype(details["dtype"]), float(scale), int(zero_point))


def image_layout(spec: TensorSpec, where: str = "model") -> ImageLayout:
    """The image layout of an input spec: [1, 28, 28], [1, 28, 28, 1] or [1, H, W, 3]."""
    shape = spec.shape
    if len(shape) == 3 and shape[0] == 1 and shape[1:] == INPUT_HW:
        return ImageLayout(*INPUT_HW, 1)
    if len(shape) == 4 and shape[0] == 1 and shape[3] in (1, 3) and min(shape[1:3]) >= 8:
        layout = ImageLayout(shape[1], shape[2], shape[3])
        if layout.channels == 3 or layout.is_fmnist:
            return layout
    raise ModelInputError(
        f"{where}: model input shape {list(shape)}, expected a 28x28 grayscale image "
        "([1, 28, 28] or [1, 28, 28, 1]) or an RGB image ([1, H, W, 3])")


def read_specs(interpreter, where: str = "model") -> tuple[TensorSpec, TensorSpec]:
    """The input and output specs; refuses a model with several inputs or outputs, or whose
    input is not an image (see :func:`image_layout`)."""
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelInputError(f"{where}: model has {len(inputs)} inputs and {len(outputs)} "
                              "outputs, expected one of each")
    in_spec, out_spec = _spec(inputs[0]), _spec(outputs[0])
    image_layout(in_spec, where)
    return in_spec, out_spec


def to_input(pixels: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Turn prepared uint8 pixels (0-255), one image or a batch, into the input tensor's dtype."""
    if spec.passes_pixels:
        return pixels  # the full-integer models take raw pixels as they are
    values = pixels.astype(np.float32)
    if not spec.quantized:
        return values if spec.dtype == np.float32 else values.astype(spec.dtype)
    info = np.iinfo(spec.dtype)
    quantized = np.round(values / spec.scale + spec.zero_point)
    return np.clip(quantized, info.min, info.max).astype(spec.dtype)


def from_output(raw: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Class probabilities as float32 from the model's raw output, (classes,) or (N, classes)."""
    if not spec.quantized:
        return raw.astype(np.float32, copy=False)
    if spec.zero_point == 0:
        return np.multiply(raw, np.float32(spec.scale), dtype=np.float32)
    return (raw.astype(np.float32) - spec.zero_point) * np.float32(spec.scale)
