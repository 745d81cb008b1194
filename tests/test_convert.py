"""Conversion: every variant converts and is measured; the gate refuses and protects shipped files."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from edge_runtime.interpreter.runner import ModelRunner

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A real model trained briefly on real data: enough to convert and measure."""
    from train.cli import main

    out = tmp_path_factory.mktemp("run")
    assert main(["--epochs", "3", "--limit", "6000", "--out", str(out)]) == 0
    return out / "model.keras"


@pytest.fixture(scope="module")
def converted(small_run, tmp_path_factory):
    from convert.cli import main

    out = tmp_path_factory.mktemp("models")
    status = main(["--model", str(small_run), "--out", str(out), "--calibration-size", "500",
                   "--quantization", "float32", "float16", "dynamic", "int8",
                   "--tolerance-pp", "2", "--per-class-tolerance-pp", "10"])
    assert status == 0
    return out


@pytest.mark.parametrize("mode", ["float32", "float16", "dynamic", "int8"])
def test_every_variant_ships_with_a_manifest_that_matches_its_file(converted, mode, fashion):
    model = converted / f"fashion_mlp_{mode}.tflite"
    manifest = json.loads(model.with_suffix(".json").read_text())
    data = model.read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["size_bytes"] == len(data)
    assert manifest["quantization"]["mode"] == mode
    assert manifest["labels"][9] == "Ankle boot" and len(manifest["labels"]) == 10
    runner = ModelRunner(model)
    assert manifest["input"]["dtype"] == runner.input_spec.dtype.name
    assert manifest["output"]["dtype"] == runner.output_spec.dtype.name
    assert manifest["input"]["shape"] == [1, 28, 28]
    metrics = manifest["metrics"]
    assert metrics["n_images"] == 10_000
    # The recorded accuracy is what the file really does on the test set.
    predicted = runner.probabilities_batch(fashion.test.images).argmax(axis=1)
    assert (predicted == fashion.test.labels).mean() == pytest.approx(metrics["tflite_accuracy"])
    low, high = metrics["drop_ci95_pp"]
    assert low <= metrics["drop_pp"] <= high
    assert manifest["runtimes"]["ai-edge-litert"]["loads"] is True
    assert manifest["provenance"]["training"]["limit"] == 6000  # the run that made the model


def test_int8_takes_raw_uint8_pixels(converted, fashion):
    runner = ModelRunner(converted / "fashion_mlp_int8.tflite")
    assert runner.input_spec.dtype == np.uint8 and runner.output_spec.dtype == np.uint8
    assert (runner.input_spec.scale, runner.input_spec.zero_point) == (1.0, 0)
    manifest = json.loads((converted / "fashion_mlp_int8.json").read_text())
    assert manifest["calibration"]["images"] == 500
    # uint8 in, uint8 out: the raw test image is the input tensor, no scaling on the device.
    interpreter = runner._interpreter
    interpreter.set_tensor(runner.input_spec.index, fashion.test.images[:1])
    interpreter.invoke()
    assert interpreter.get_tensor(runner.output_spec.index).dtype == np.uint8


def test_impossible_tolerance_exits_3_and_leaves_shipped_model_intact(
    small_run, converted, capsys
):
    from convert.cli import main

    before = {p.name: p.read_bytes() for p in converted.iterdir()}
    status = main(["--model", str(small_run), "--out", str(converted), "--quantization", "int8",
                   "--calibration-size", "100", "--tolerance-pp", "-100"])
    assert status == 3
    out = capsys.readouterr().out
    assert "NOT SHIPPED" in out and "exceeds --tolerance-pp -100" in out
    after = {p.name: p.read_bytes() for p in converted.iterdir()}
    assert after == before  # byte for byte, and no temporary file left behind


def test_missing_model_is_one_line_error(tmp_path, capsys):
    from convert.cli import main

    assert main(["--model", str(tmp_path / "nope.keras")]) == 1
    assert "nope.keras: model file not found" in capsys.readouterr().err


def test_calibration_is_stratified():
    from convert.quantize import calibration_indices

    labels = np.repeat(np.arange(10), 100)
    picked = calibration_indices(labels, 503, seed=1)
    counts = np.bincount(labels[picked], minlength=10)
    assert counts.sum() == 503 and counts.max() - counts.min() <= 1
    assert len(set(picked)) == 503


def test_bootstrap_interval_is_paired_and_centred():
    from convert.compare import paired_drop_interval

    ref = np.ones(10_000, dtype=bool)
    cand = ref.copy()
    cand[:100] = False  # 1.00 pp worse on exactly these images
    low, high = paired_drop_interval(ref, cand)
    assert 0.7 < low < 1.0 < high < 1.3
    assert paired_drop_interval(ref, ref) == (0.0, 0.0)


def test_a_model_whose_input_is_not_an_image_is_refused_on_the_device(tmp_path, capsys):
    import keras

    from convert.quantize import convert
    from edge_runtime.apps.classify import main

    wrong = keras.Sequential([keras.Input((32, 32, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model = tmp_path / "two_channels.tflite"
    model.write_bytes(convert(wrong, "float32"))
    assert main(["--model", str(model), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "two_channels.tflite: model input shape [1, 32, 32, 2], expected a 28x28" in err
