"""Conversion: every variant converts and is measured; the gate refuses and protects shipped files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.interpreter.runner import ModelRunner

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


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


@pytest.mark.tensorflow
@pytest.mark.slow
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


@pytest.mark.tensorflow
@pytest.mark.slow
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


@pytest.mark.tensorflow
@pytest.mark.slow
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


def test_conversion_options_are_checked_and_a_missing_model_is_an_error_of_the_api(tmp_path):
    from convert.pipeline import ConversionError, ConvertOptions, convert_model

    with pytest.raises(ValueError, match="calibration size 5, expected >= 10"):
        ConvertOptions(calibration_size=5)
    with pytest.raises(ValueError, match="quantization must be some of"):
        ConvertOptions(quantization=("int4",))
    with pytest.raises(ConversionError, match="nope.keras: model file not found"):
        convert_model(tmp_path / "nope.keras")


@pytest.mark.tensorflow
@pytest.mark.slow
def test_missing_model_is_one_line_error(tmp_path, capsys):
    from convert.cli import main

    assert main(["--model", str(tmp_path / "nope.keras")]) == 1
    assert "nope.keras: model file not found" in capsys.readouterr().err


@pytest.mark.tensorflow
@pytest.mark.slow
def test_calibration_is_stratified():
    from train.quantize import calibration_indices

    labels = np.repeat(np.arange(10), 100)
    picked = calibration_indices(labels, 503, seed=1)
    counts = np.bincount(labels[picked], minlength=10)
    assert counts.sum() == 503 and counts.max() - counts.min() <= 1
    assert len(set(picked)) == 503


@pytest.mark.tensorflow
@pytest.mark.slow
def test_bootstrap_interval_is_paired_and_centred():
    from convert.compare import paired_drop_interval

    ref = np.ones(10_000, dtype=bool)
    cand = ref.copy()
    cand[:100] = False  # 1.00 pp worse on exactly these images
    low, high = paired_drop_interval(ref, cand)
    assert 0.7 < low < 1.0 < high < 1.3
    assert paired_drop_interval(ref, ref) == (0.0, 0.0)


@pytest.mark.tensorflow
@pytest.mark.slow
def test_a_model_whose_input_is_not_an_image_is_refused_on_the_device(tmp_path, capsys):
    import keras

    from train.quantize import convert
    from edge_runtime.apps.classify import main

    wrong = keras.Sequential([keras.Input((32, 32, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model = tmp_path / "two_channels.tflite"
    model.write_bytes(convert(wrong, "float32"))
    assert main(["--model", str(model), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "two_channels.tflite: model input shape [1, 32, 32, 2], expected a 28x28" in err


# ---------------------------------------------------------------- the CNN (issue 13)

@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """A real CNN trained for one epoch on a slice of the real data."""
    from train.cli import main

    out = tmp_path_factory.mktemp("cnn-run")
    assert main(["--arch", "cnn", "--epochs", "1", "--limit", "3000", "--out", str(out)]) == 0
    return out / "model.keras"


@pytest.mark.tensorflow
@pytest.mark.slow
def test_cnn_converts_through_the_same_gate_beside_the_mlp(cnn_run, tmp_path, fashion, capsys):
    from convert.cli import main

    out = tmp_path / "models"
    out.mkdir()
    for path in MODELS.glob("fashion_mlp_int8.*"):
        shutil.copy(path, out)
    mlp_before = {p.name: p.read_bytes() for p in out.iterdir()}
    status = main(["--model", str(cnn_run), "--out", str(out), "--calibration-size", "200",
                   "--quantization", "float32", "int8",
                   "--tolerance-pp", "5", "--per-class-tolerance-pp", "20"])
    assert status == 0, capsys.readouterr().out
    # Named after the model: the MLP's bundles beside it are untouched.
    assert {p.name: p.read_bytes() for p in out.glob("fashion_mlp_*")} == mlp_before
    run = json.loads((cnn_run.parent / "metrics.json").read_text())
    for mode in ("float32", "int8"):
        model = out / f"fashion_cnn_{mode}.tflite"
        manifest = json.loads(model.with_suffix(".json").read_text())
        assert manifest["model"] == {"architecture": run["architecture"],
                                     "parameters": run["parameters"]}
        assert manifest["model"]["architecture"].startswith("CNN")
        assert manifest["provenance"]["training"]["arch"] == "cnn"
        assert manifest["input"]["shape"] == [1, 28, 28]
        predicted = ModelRunner(model).probabilities_batch(fashion.test.images).argmax(axis=1)
        accuracy = (predicted == fashion.test.labels).mean()
        assert accuracy == pytest.approx(manifest["metrics"]["tflite_accuracy"])
    runner = ModelRunner(out / "fashion_cnn_int8.tflite")
    assert (runner.input_spec.dtype, runner.input_spec.scale) == (np.uint8, 1.0)

    # A CNN the gate refuses leaves every bundle as it was, byte for byte.
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["--model", str(cnn_run), "--out", str(out), "--quantization", "int8",
                 "--calibration-size", "100", "--tolerance-pp", "-100"]) == 3
    assert "NOT SHIPPED" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_shipped_cnn_bundles_score_the_test_set_as_their_manifests_say(mode, fashion):
    """In every environment (ai-edge-litert, tflite-runtime 2.14, tensorflow.lite)."""
    from edge_runtime import Classifier
    from edge_runtime.interpreter.backend import resolve_backend
    from edge_runtime.interpreter.bundle import load_bundle

    model = MODELS / f"fashion_cnn_{mode}.tflite"
    manifest = load_bundle(model).manifest  # also checks the sha256
    assert manifest["model"]["architecture"].startswith("CNN")
    assert manifest["runtimes"][resolve_backend()]["loads"] is True
    metrics = manifest["metrics"]
    predicted = ModelRunner(model).probabilities_batch(fashion.test.images).argmax(axis=1)
    # Exact on ai-edge-litert, which measured the manifest; other runtimes' int8 kernels may
    # round a few of the 10,000 images differently.
    accuracy = (predicted == fashion.test.labels).mean()
    assert accuracy == pytest.approx(metrics["tflite_accuracy"], abs=5e-4)
    # The shipped CNN is seed 0; the 93.0% target is the 3-seed mean (docs/results.md).
    assert metrics["tflite_accuracy"] >= 0.925 and metrics["drop_pp"] <= 0.3
    if mode == "int8":
        assert manifest["size_bytes"] <= 150_000
    with Classifier(model) as clf:
        predictions = clf.classify_batch(list(fashion.test.images[:200]))
    assert sum(p.class_id == y for p, y in zip(predictions, fashion.test.labels[:200])) >= 180


@pytest.mark.slow
def test_fashion_classify_takes_the_cnn(tmp_path, fashion, capsys):
    from edge_runtime.apps.classify import main
    from edge_runtime.media.image_io import encode_png

    image = tmp_path / "boot.png"
    image.write_bytes(encode_png(fashion.test.images[0]))  # an Ankle boot
    assert main(["--model", str(MODELS / "fashion_cnn_int8.tflite"), str(image)]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["label"] == "Ankle boot"


@pytest.mark.tensorflow
@pytest.mark.slow
def test_rebuilding_the_same_model_leaves_the_shipped_bundle_untouched(small_run, converted,
                                                                       capsys):
    from convert.cli import main

    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in converted.iterdir()}
    assert main(["--model", str(small_run), "--out", str(converted), "--calibration-size", "500",
                 "--quantization", "float32", "int8", "--tolerance-pp", "2",
                 "--per-class-tolerance-pp", "10"]) == 0
    out = capsys.readouterr().out
    assert out.count("unchanged: the shipped model is byte-identical") == 2, out
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in converted.iterdir()}
    assert after == before  # not even rewritten with the same bytes


@pytest.mark.tensorflow
@pytest.mark.slow
def test_a_model_that_measures_worse_never_replaces_the_shipped_one(converted, tmp_path,
                                                                   capsys):
    import shutil

    from convert.cli import main as convert
    from train.cli import main as train

    shipped = tmp_path / "models"
    shutil.copytree(converted, shipped)
    assert train(["--epochs", "1", "--limit", "500", "--out", str(tmp_path / "weak")]) == 0
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    weak = ["--model", str(tmp_path / "weak" / "model.keras"), "--out", str(shipped),
            "--quantization", "float32", "--tolerance-pp", "5", "--per-class-tolerance-pp", "50"]
    assert convert(weak) == 0
    assert "kept the shipped fashion_mlp_float32: the new one is not clearly better" in \
        capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before
    assert convert([*weak, "--replace"]) == 0
    assert (shipped / "fashion_mlp_float32.tflite").read_bytes() != \
        before["fashion_mlp_float32.tflite"]


def test_a_bundle_is_replaced_only_by_a_clearly_better_model(tmp_path):
    """A different model replaces the shipped one only when, paired with it on the same
    pictures, it reads clearly more of them right: noise (such as a rebuild on another CPU) or
    a worse model leaves it, a byte-identical one leaves the files untouched, and a photo model
    whose run held out other photos than the shipped one's is not paired with it at all."""
    from convert.compare import compare_predictions
    from convert.replacement import photo_split, shipped_verdict

    name = "fashion_photo_int8"
    shipped = tmp_path / "models"
    shipped.mkdir()
    for suffix in (".tflite", ".json"):
        shutil.copy(MODELS / f"{name}{suffix}", shipped)
    labels = np.zeros(1000, int)

    def paired(shipped_right, new_right):
        def predictions(right):
            return np.where(np.arange(1000) < right, 0, 1)
        return lambda path: compare_predictions(labels, predictions(shipped_right),
                                                predictions(new_right))

    split = photo_split(json.loads((shipped / f"{name}.json").read_text())["provenance"])

    def verdict(alone, model=b"another model", split=split):
        return shipped_verdict(shipped, name, model, "the held-out real photos (1000)", alone,
                               split)

    noise = verdict(paired(900, 901))
    assert noise.keep_shipped and "not clearly better" in noise.reason
    assert "on the held-out real photos (1000) the new one reads 901 of 1000 right, the " \
        "shipped one 900 (+0.10 pp" in noise.reason
    worse = verdict(paired(900, 850))
    assert worse.keep_shipped and "not clearly better" in worse.reason
    same = verdict(paired(0, 1000), (shipped / f"{name}.tflite").read_bytes())
    assert same.keep_shipped and "byte-identical" in same.reason
    better = verdict(paired(850, 900))
    assert not better.keep_shipped and better.reason.startswith("replaced it: on ")
    assert not shipped_verdict(tmp_path / "nothing", name, b"x", "", paired(0, 0)).keep_shipped
    other_fold = verdict(paired(0, 1000), split=split | {"holdout_fold": split["holdout_fold"] + 1})
    assert other_fold.keep_shipped
    assert f"another split of the photos (holdout_fold {split['holdout_fold']} (new: " \
        f"{split['holdout_fold'] + 1}))" in other_fold.reason
    other_list = verdict(paired(0, 1000), split=split | {"photo_list_sha256": "0" * 64})
    assert other_list.keep_shipped and "photo_list_sha256" in other_list.reason
