"""The edge runtime on the shipped models, real test-set images and broken files made here.

Runs in every environment: with TensorFlow, without it, and on tflite-runtime.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime import Classifier
from tests.bad_inputs import png_with_header
from edge_runtime.interpreter.backend import resolve_backend
from edge_runtime.interpreter.bundle import default_model_path, load_bundle
from edge_runtime.apps.classify import main

ROOT = Path(__file__).resolve().parent.parent
BACKEND = resolve_backend()


def shipped(name: str) -> Path:
    """A shipped model that this environment's interpreter can load."""
    return ROOT / "models" / f"fashion_mlp_{name}.tflite"


def read_jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _strings(value):
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_shipped_manifests_carry_no_path_of_the_build_machine():
    """A manifest is read on other machines: an absolute path from the one that built it
    (a temporary folder, a home or checkout) means nothing there."""
    absolute = re.compile(r"(?<![\w.])/[\w.-]+/")
    manifests = sorted((ROOT / "models").glob("*.json"))
    assert manifests
    for manifest in manifests:
        found = [text for text in _strings(json.loads(manifest.read_text()))
                 if absolute.search(text)]
        assert not found, f"{manifest.name}: {found}"


def test_default_model_is_the_shipped_int8_with_a_valid_manifest():
    bundle = load_bundle()
    assert bundle.path == default_model_path() and bundle.name == "fashion_mlp_int8"
    assert bundle.manifest["quantization"]["mode"] == "int8"
    assert bundle.labels[0] == "T-shirt/top"


def test_api_classifies_test_images_like_the_manifest_says(fashion):
    images, labels = fashion.test.images[:2000], fashion.test.labels[:2000]
    with Classifier(top_k=3) as clf:
        predictions = clf.classify_batch(images)
        accuracy = np.mean([p.class_id == y for p, y in zip(predictions, labels)])
        expected = clf.bundle.manifest["metrics"]["tflite_accuracy"]
    assert abs(accuracy - expected) < 0.02
    first = predictions[0]
    assert first.label == clf.bundle.labels[first.class_id]
    assert len(first.top_k) == 3 and first.top_k[0].score == first.score
    assert first.top_k[0].score >= first.top_k[1].score >= first.top_k[2].score


@pytest.mark.slow
def test_ten_thousand_test_pngs_reproduce_the_manifest_accuracy(fashion, tmp_path):
    """Written out as PNG files and classified by the CLI, the test set must score exactly what
    the converter measured: the fmnist path hands the model the test set's own pixels."""
    for i, image in enumerate(fashion.test.images):
        cv2.imwrite(str(tmp_path / f"{i:05d}.png"), image)
    model = shipped("int8") if BACKEND != "tflite-runtime" else shipped("float32")
    out = tmp_path / "out.jsonl"
    assert main(["--model", str(model), "--output", str(out), str(tmp_path)]) == 0
    records = read_jsonl(out.read_text())
    assert len(records) == 10_000
    predicted = np.array([r["class_id"] for r in records])
    accuracy = float((predicted == fashion.test.labels).mean())
    manifest = json.loads(model.with_suffix(".json").read_text())
    assert accuracy == pytest.approx(manifest["metrics"]["tflite_accuracy"], abs=1e-9)


@pytest.fixture
def mixed_dir(tmp_path, fashion):
    """Good images in several encodings and every kind of bad file the issue names."""
    d = tmp_path / "in"
    d.mkdir()
    garment = fashion.test.images[0]  # an ankle boot
    cv2.imwrite(str(d / "a_gray.png"), garment)
    cv2.imwrite(str(d / "b_colour.jpg"), cv2.cvtColor(garment, cv2.COLOR_GRAY2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 100])
    cv2.imwrite(str(d / "c_16bit.png"), garment.astype(np.uint16) * 257)
    rgba = np.dstack([cv2.cvtColor(garment, cv2.COLOR_GRAY2BGR), np.full_like(garment, 255)])
    cv2.imwrite(str(d / "d_alpha.png"), rgba)
    (d / "e_empty.png").write_bytes(b"")
    (d / "f_text.png").write_text("not an image at all\n")  # counted, not recorded
    big = cv2.imencode(".jpg", np.full((400, 400, 3), 200, np.uint8))[1].tobytes()
    (d / "g_truncated.jpg").write_bytes(big[: len(big) // 3])
    png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (300, 300), np.uint8))[1]
    (d / "h_truncated.png").write_bytes(png.tobytes()[:2000])
    (d / "i_zero_width.png").write_bytes(png_with_header(0, 28))
    (d / "j_huge.png").write_bytes(png_with_header(100_000, 100_000))
    (d / "k_dangling.png").symlink_to(d / "missing-target.png")
    (tmp_path / "empty_dir").mkdir()
    return d


def test_bad_files_get_one_line_errors_and_never_stop_the_batch(mixed_dir, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    status = main(["--model", str(shipped("float32")), "--output", str(out),
                   str(mixed_dir), str(tmp_path / "empty_dir"), str(tmp_path / "nope.png")])
    assert status == 1
    records = {Path(r["path"]).name: r for r in read_jsonl(out.read_text())}
    assert "f_text.png" not in records  # not an image, whatever its name: counted below
    for good in ("a_gray.png", "b_colour.jpg", "c_16bit.png", "d_alpha.png"):
        assert records[good]["label"] == "Ankle boot", (good, records[good])
    expected_errors = {
        "e_empty.png": "empty file",
        "g_truncated.jpg": "not a decodable image",
        "h_truncated.png": "not a decodable image",
        "i_zero_width.png": "zero dimension",
        "j_huge.png": "above the 50,000,000-pixel limit",
        "k_dangling.png": "cannot read",
        "empty_dir": "directory holds no files",
        "nope.png": "no such file or directory",
    }
    for name, message in expected_errors.items():
        error = records[name]["error"]
        assert message in error and name in error and "\n" not in error, (name, error)
    assert capsys.readouterr().err == ("fashion-classify: 13 files: 4 classified, 8 unreadable, "
                                       "1 not an image (.png 1)\n")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_an_error_record(tmp_path, fashion):
    path = tmp_path / "locked.png"
    cv2.imwrite(str(path), fashion.test.images[0])
    path.chmod(0)
    out = tmp_path / "out.jsonl"
    assert main(["--output", str(out), str(path)]) == 1
    assert "cannot read" in read_jsonl(out.read_text())[0]["error"]


def test_corrupt_model_is_refused_by_its_manifest(tmp_path, capsys):
    model = tmp_path / "m.tflite"
    shutil.copy(shipped("float32"), model)
    shutil.copy(shipped("float32").with_suffix(".json"), model.with_suffix(".json"))
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, as a failing SD card would give
    model.write_bytes(bytes(data))
    assert main(["--model", str(model), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not match its manifest" in err and "m.tflite" in err


def test_model_without_manifest_runs_with_a_warning(tmp_path, fashion, capsys):
    model = tmp_path / "bare.tflite"
    shutil.copy(shipped("float32"), model)
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), fashion.test.images[1])  # a pullover
    assert main(["--model", str(model), str(image)]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "no manifest" in captured.err
    assert read_jsonl(captured.out)[0]["label"] == "Pullover"


def test_missing_backend_names_the_install_command(tmp_path, capsys):
    missing = next((b for b in ("tflite-runtime", "ai-edge-litert", "tensorflow")
                    if b != BACKEND and not _importable(b)), None)
    if missing is None:
        pytest.skip("every backend is installed here")
    assert main(["--backend", missing, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"backend {missing} is not installed" in err and "pip install" in err


def _importable(backend: str) -> bool:
    try:
        resolve_backend(backend)
    except ImportError:
        return False
    return True


def test_interpreter_threads_default_to_the_cpus_up_to_four_and_one_on_tflite_runtime(monkeypatch):
    from edge_runtime.classifier import ClassifierOptions
    from edge_runtime.interpreter import backend

    for cpus, litert in ((1, 1), (2, 2), (4, 4), (16, 4)):
        monkeypatch.setattr(backend, "usable_cpus", lambda cpus=cpus: cpus)
        assert backend.default_threads("ai-edge-litert") == litert
        assert backend.default_threads("tensorflow") == litert
        assert backend.default_threads("tflite-runtime") == 1
    monkeypatch.undo()
    model = shipped("int8")
    assert backend.create_interpreter(model).num_threads == backend.default_threads(BACKEND)
    assert backend.create_interpreter(model, num_threads=3).num_threads == 3
    assert ClassifierOptions(num_threads=None).num_threads is None
    with pytest.raises(ValueError, match="num_threads 0"):
        ClassifierOptions(num_threads=0)


def test_formats_and_top_k_and_threshold(tmp_path, fashion, capsys):
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), fashion.test.images[2])  # a trouser
    assert main(["--model", str(shipped("float32")), "--top-k", "5", str(image)]) == 0
    record = read_jsonl(capsys.readouterr().out)[0]
    assert set(record) == {"path", "label", "class_id", "score", "top_k"}
    assert record["label"] == "Trouser" and len(record["top_k"]) == 5
    assert main(["--model", str(shipped("float32")), "--threshold", "1.0", "--format", "csv",
                 str(image)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "path,label,class_id,score,top_k,reason,error,warning,skipped"
    assert f"{image},,,,Trouser:" in lines[1] and "below threshold 1.00" in lines[1]
    assert main(["--model", str(shipped("float32")), "--format", "text", str(image)]) == 0
    assert capsys.readouterr().out.startswith(f"{image}: Trouser ")


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as info:
        main(["--top-k", "0", "x.png"])
    assert info.value.code == 2


def _python_without_tensorflow(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which importing TensorFlow or Keras fails."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'):\n"
        "            raise ImportError('TensorFlow is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", blocker + code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_runs_with_tensorflow_blocked_from_any_directory(tmp_path, fashion):
    image = tmp_path / "boot.png"
    cv2.imwrite(str(image), fashion.test.images[0])
    code = (
        "from edge_runtime.apps.classify import main\n"
        f"status = main([{str(image)!r}, '--backend', 'auto'])\n"
        "assert not any(m.startswith('tensorflow') for m in sys.modules), 'TF was imported'\n"
        "sys.exit(status)\n"
    )
    done = _python_without_tensorflow(code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = read_jsonl(done.stdout)[0]
    assert record["label"] == "Ankle boot"


def test_product_shot_on_a_light_background_is_classified_like_the_original(fashion):
    """A garment photographed the catalogue way: dark-on-white, large, off-centre."""
    with Classifier(shipped("float32"), preprocess="photo") as clf:
        agree = 0
        for image, label in zip(fashion.test.images[:100], fashion.test.labels[:100]):
            big = cv2.resize(255 - image, (224, 224), interpolation=cv2.INTER_CUBIC)
            canvas = np.full((360, 480, 3), 250, np.uint8)
            canvas[40:264, 200:424] = big[:, :, None]
            agree += clf.classify(canvas).class_id == label
    assert agree >= 75  # the model alone gets ~90 of these 100 right


@pytest.mark.slow
@pytest.mark.parametrize("name", ["float32", "float16", "dynamic", "int8"])
def test_shipped_models_measure_what_their_manifests_say(fashion, name):
    from edge_runtime.interpreter.backend import ModelLoadError
    from edge_runtime.interpreter.runner import ModelRunner

    model = shipped(name)
    manifest = load_bundle(model).manifest  # also checks the sha256
    assert manifest["size_bytes"] == model.stat().st_size
    recorded = manifest["runtimes"][BACKEND]
    if not recorded["loads"]:
        # The known case: tflite-runtime 2.14 and TF 2.21's dynamic-range FULLY_CONNECTED v12.
        with pytest.raises(ModelLoadError, match="FULLY_CONNECTED"):
            ModelRunner(model)
        return
    predicted = ModelRunner(model).probabilities_batch(fashion.test.images).argmax(axis=1)
    accuracy = (predicted == fashion.test.labels).mean()
    assert accuracy == pytest.approx(manifest["metrics"]["tflite_accuracy"], abs=5e-4)
    if name in ("float32", "int8"):  # the clean-test targets of the conversion stage
        assert manifest["metrics"]["drop_pp"] <= 0.3
    if name == "int8":
        assert manifest["size_bytes"] <= 120_000


# ---------------------------------------------------------------- the API's contract (issue 17)

def test_classifier_options_are_keyword_only_and_checked():
    with pytest.raises(TypeError):
        Classifier(shipped("int8"), "ai-edge-litert")  # the second option must be named
    with pytest.raises(ValueError, match="threshold 1.5, expected a value within 0..1"):
        Classifier(threshold=1.5)
    with pytest.raises(ValueError, match="preprocess 'photos'"):
        Classifier(preprocess="photos")


def test_a_closed_classifier_refuses_to_classify(fashion):
    clf = Classifier()
    assert clf.classify(fashion.test.images[0]).label == "Ankle boot"
    clf.close()
    with pytest.raises(RuntimeError, match="classifier is closed"):
        clf.classify(fashion.test.images[0])
    clf.close()  # closing twice is harmless


@pytest.mark.parametrize("array, error, message", [
    (np.zeros((10, 10), np.float32), TypeError, "dtype float32, expected uint8"),
    (np.zeros((28, 28, 5), np.uint8), ValueError, r"shape \(28, 28, 5\), expected"),
    (np.zeros((0, 28), np.uint8), ValueError, "zero dimension"),
    ([[0, 1], [2, 3]], TypeError, "image is a list"),
])
def test_arrays_that_are_not_images_are_refused_not_guessed_at(array, error, message):
    with Classifier() as clf, pytest.raises(error, match=message):
        clf.classify(array)


def test_no_class_id_is_ever_a_sentinel(fashion):
    with Classifier(threshold=1.0) as clf:
        prediction = clf.classify(fashion.test.images[0])
    assert prediction.label is None and prediction.class_id is None and prediction.score is None
    assert "below threshold" in prediction.reason
    scores = [c.score for c in prediction.top_k]
    assert scores == sorted(scores, reverse=True) and prediction.top_k[0].label == "Ankle boot"
    assert all(0 <= c.class_id < 10 for c in prediction.top_k)


def test_a_manifest_whose_labels_do_not_match_the_outputs_is_refused(tmp_path, capsys):
    model = tmp_path / "m.tflite"
    shutil.copy(shipped("float32"), model)
    manifest = json.loads(shipped("float32").with_suffix(".json").read_text())
    manifest["labels"] = manifest["labels"][:9]
    model.with_suffix(".json").write_text(json.dumps(manifest))
    assert main(["--model", str(model), str(model)]) == 2
    err = capsys.readouterr().err
    assert "manifest has 9 labels but the model gives 10 scores" in err and "m.tflite" in err


def test_output_into_a_missing_directory_is_a_one_line_usage_error(tmp_path, fashion, capsys):
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), fashion.test.images[0])
    assert main(["--output", str(tmp_path / "no" / "such" / "out.jsonl"), str(image)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fashion-classify: error: --output") and "\n" not in err
    assert "No such file or directory" in err


def test_batches_are_real_and_agree_with_one_image_at_a_time(fashion):
    from edge_runtime.interpreter.runner import ModelRunner

    images = fashion.test.images[:600]  # more than one batch of 256, and a short last one
    runner = ModelRunner(shipped("int8"))
    single = np.stack([runner.probabilities(x) for x in images])
    invokes = []
    original = runner._interpreter.invoke
    runner._interpreter.invoke = lambda: invokes.append(1) or original()
    batched = runner.probabilities_batch(images)
    assert len(invokes) == 3  # 256 + 256 + 88
    np.testing.assert_array_equal(batched, single)
    raw = runner.raw_scores_batch(images)
    assert raw.dtype == np.uint8 and raw.tolist() == [runner.raw_scores(x) for x in images]
    with Classifier() as clf:
        assert [p.class_id for p in clf.classify_batch(images[:50])] == \
            [clf.classify(x).class_id for x in images[:50]]


@pytest.mark.parametrize("name", ["int8", "float32"])
def test_a_28x28_array_goes_straight_to_the_model_with_the_same_decision(fashion, name):
    """classify's short cut for a 28x28 uint8 array gives what preparing and predicting give,
    with a threshold that leaves some images without a label."""
    images = list(fashion.test.images[:300]) + [fashion.test.images[0].T]  # and a strided view
    with Classifier(shipped(name), top_k=4, threshold=0.6) as clf:
        fast = [clf.classify(x).as_dict() for x in images]
        general = [clf.predict(clf.prepare(x)).as_dict() for x in images]
    assert fast == general
    assert any(record["label"] is None for record in fast)


def test_the_precomputed_decision_rule_decides_as_decide_does(fashion):
    """DecisionRule (sort keys and shared candidates for a uint8 output) gives decide's
    prediction: on the shipped int8 model's own outputs and on made-up scores full of ties."""
    from edge_runtime.interpreter.runner import ModelRunner
    from edge_runtime.predictions import DecisionRule, decide

    runner = ModelRunner(shipped("int8"))
    labels = load_bundle(shipped("int8")).labels
    rng = np.random.default_rng(0)
    made_up = rng.choice([0, 0, 1, 7, 128, 200, 255], size=(2000, 10)).tolist()
    outputs = [runner.raw_scores(x) for x in fashion.test.images[:300]] + made_up
    for top_k, threshold in ((1, 0.0), (3, 0.5), (10, 0.9)):
        rule = DecisionRule(labels, top_k, threshold, runner.output_quantization, uint8=True)
        for scores in outputs:
            assert rule(scores) == decide(scores, labels, top_k, threshold,
                                          runner.output_quantization), scores


def test_single_images_after_a_batch_and_none_after_close(fashion):
    """The runner's hot path for one image comes back after a batch resized the input, and
    is gone once the runner is closed."""
    from edge_runtime.interpreter.runner import ModelRunner

    images = fashion.test.images[:20]
    runner = ModelRunner(shipped("int8"))
    before = [runner.raw_scores(x) for x in images]
    batch = runner.probabilities_batch(images)
    assert [runner.raw_scores(x) for x in images] == before
    assert np.array_equal(np.argmax(before, axis=1), batch.argmax(axis=1))
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.raw_scores(images[0])


def test_full_integer_model_takes_the_pixels_untouched(fashion):
    from edge_runtime.interpreter.runner import ModelRunner
    from edge_runtime.interpreter.tensors import to_input

    spec = ModelRunner(shipped("int8")).input_spec
    pixels = fashion.test.images[0]
    assert spec.passes_pixels and to_input(pixels, spec) is pixels
    float_spec = ModelRunner(shipped("float32")).input_spec
    assert to_input(pixels, float_spec).dtype == np.float32


def _resident_bytes(path: Path) -> int:
    """This process's resident bytes of the mappings of the file at ``path`` (smaps Rss)."""
    target, resident, inside = os.path.realpath(path), 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", fields[0]):
                inside = len(fields) >= 6 and fields[5] == target
            elif inside and fields[0] == "Rss:":
                resident += int(fields[1]) * 1024
    return resident


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/smaps")
def test_a_loaded_model_file_is_not_kept_resident(tmp_path):
    """Once XNNPACK has packed the photo model's weights, the mapped file's pages are given back
    (4.4 MiB of a server's RSS), also after a batch re-allocated the tensors, and the model
    still answers exactly as one loaded from bytes, whose buffer nothing releases."""
    from edge_runtime.interpreter.bundle import PHOTO_MODEL_NAME
    from edge_runtime.interpreter.runner import ModelRunner

    model = tmp_path / "photo.tflite"  # a path of its own: no other interpreter maps it
    shutil.copyfile(default_model_path(PHOTO_MODEL_NAME), model)
    size = model.stat().st_size
    runner = ModelRunner(model)
    assert _resident_bytes(model) < size / 10, "the model file stayed resident after loading"
    images = np.random.default_rng(0).integers(0, 256, (3, *runner.input_spec.shape[1:]),
                                               dtype=np.uint8)
    reference = ModelRunner(model.read_bytes())
    assert np.array_equal(runner.probabilities_batch(images), reference.probabilities_batch(images))
    assert [runner.raw_scores(x) for x in images] == [reference.raw_scores(x) for x in images]
    if runner.backend == "ai-edge-litert":  # XNNPACK: the weights are never read again
        assert _resident_bytes(model) < size / 10, "invoking brought the model file back"
