"""TFLite image-classifier metadata: written by tflite-support in its own environment, read back,
outputs unchanged on every interpreter, and MediaPipe Tasks' ImageClassifier loads the model and
agrees with the project's own classification."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convert.metadata import (DEFAULT_METADATA_PYTHON, LABEL_FILE, ImageClassifierInfo,
                              MetadataToolError, add_image_classifier_metadata, read_metadata)
from edge_runtime.interpreter.runner import ModelRunner
from edge_runtime.labels import FASHION_MNIST_LABELS
from tests.conftest import REAL_PHOTOS, legacy_probabilities

ROOT = Path(__file__).resolve().parent.parent
MEDIAPIPE_PYTHON = ROOT / ".venv-mediapipe" / "bin" / "python"
SIZE = 32  # model input H = W; the test images are written at this size, so nobody resizes
# One colour per class, saturated so the calibration images span 0-255 (input scale 1).
COLOURS = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255),
                    (255, 0, 255), (255, 255, 255), (255, 128, 0), (128, 0, 255), (128, 128, 128)])

needs_metadata_env = pytest.mark.skipif(
    not DEFAULT_METADATA_PYTHON.is_file(),
    reason=f"{DEFAULT_METADATA_PYTHON.parent.parent.name} (tflite-support) absent: "
           "run scripts/setup_extra_envs.sh")
needs_mediapipe_env = pytest.mark.skipif(
    not MEDIAPIPE_PYTHON.is_file(),
    reason=f"{MEDIAPIPE_PYTHON.parent.parent.name} (mediapipe) absent: run scripts/setup_extra_envs.sh")

INFO = ImageClassifierInfo(
    name="coloured squares test classifier",
    description="A tiny conv net that names the colour of a square; test fixture.",
    labels=FASHION_MNIST_LABELS,
    input_description="RGB image, uint8 0-255, 32x32; normalisation is inside the model.",
    version="test",
    author="fashion-edge tests",
    license="MIT",
)

# Runs in .venv-mediapipe: MediaPipe Tasks' ImageClassifier on PNG files, every category.
MEDIAPIPE_CLASSIFY = """
import json, sys
import mediapipe as mp
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.core.base_options import BaseOptions
model, *paths = sys.argv[1:]
options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model))
with vision.ImageClassifier.create_from_options(options) as classifier:
    for path in paths:
        head = classifier.classify(mp.Image.create_from_file(path)).classifications[0]
        print(json.dumps({c.category_name: c.score for c in head.categories}))
"""

def squares(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` RGB images (n, SIZE, SIZE, 3): one square of the class's colour on black, of random
    size and place, colour jittered; and the class ids."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(COLOURS), n)
    images = np.zeros((n, SIZE, SIZE, 3), np.uint8)
    for image, label in zip(images, labels):
        side = rng.integers(10, 22)
        y, x = rng.integers(0, SIZE - side, 2)
        colour = np.clip(COLOURS[label] + rng.integers(-60, 61, 3), 0, 255)
        image[y:y + side, x:x + side] = colour
    return images, labels


@pytest.fixture(scope="module")
def trained():
    """A tiny real Keras image classifier: RGB 0-255 in (Rescaling inside), softmax over 10 out,
    trained to name a square's colour; colours jittered enough that its scores are graded."""
    import keras

    keras.utils.set_random_seed(0)
    images, labels = squares(2000, seed=0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(len(COLOURS), activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=2, batch_size=64, verbose=0)
    test_images, test_labels = squares(300, seed=1)
    accuracy = (model.predict(test_images, verbose=0).argmax(axis=1) == test_labels).mean()
    assert accuracy > 0.9, f"fixture model did not learn the colours: accuracy {accuracy:.3f}"
    return model, images[:200]


@pytest.fixture(scope="module")
def classifier_model(trained) -> bytes:
    """Full-integer int8 as the project converts: uint8 [1, 32, 32, 3] in, uint8 [1, 10] out."""
    from train.quantize import convert

    model, calibration = trained
    return convert(model, "int8", calibration)


@pytest.fixture(scope="module")
def with_metadata(classifier_model) -> bytes:
    """The classifier with the metadata MediaPipe reads."""
    return add_image_classifier_metadata(classifier_model, INFO)


@pytest.fixture(scope="module")
def float_with_metadata(trained) -> bytes:
    """The float32 conversion with metadata: a float input needs NormalizationOptions in
    MediaPipe; mean 0, std 1 hands the model raw 0-255 values, as Rescaling inside expects."""
    from train.quantize import convert

    info = replace(INFO, normalization=((0.0,), (1.0,)),
                   input_description="RGB image, float32 0-255, 32x32; normalisation is inside the model.")
    return add_image_classifier_metadata(convert(trained[0], "float32"), info)


@pytest.fixture(scope="module")
def test_images(tmp_path_factory) -> list[tuple[Path, int]]:
    """PNG files at the model's input size, one per class and a few more, with their classes."""
    from edge_runtime.media.image_io import encode_png

    folder = tmp_path_factory.mktemp("squares")
    images, labels = squares(100, seed=2)
    first = [int(np.flatnonzero(labels == c)[0]) for c in range(len(COLOURS))]
    pick = first + [i for i in range(len(labels)) if i not in first][:10]
    files = []
    for i, (rgb, label) in enumerate(zip(images[pick], labels[pick])):
        path = folder / f"square_{i:02d}.png"
        path.write_bytes(encode_png(rgb[:, :, ::-1]))  # OpenCV writes BGR
        files.append((path, int(label)))
    return files


def read_rgb(path: Path) -> np.ndarray:
    """The project's decoding, turned to the RGB the model takes."""
    from edge_runtime.media.image_io import read_image
    from edge_runtime.media.imaging import to_rgb

    return to_rgb(read_image(path).pixels)


@pytest.mark.tensorflow
@pytest.mark.slow
@needs_metadata_env
def test_metadata_reads_back_with_labels_rgb_and_no_normalisation(with_metadata):
    read = read_metadata(with_metadata)
    assert read["associated_files"] == {LABEL_FILE: "\n".join(FASHION_MNIST_LABELS) + "\n"}
    metadata = read["metadata"]
    assert (metadata["name"], metadata["author"], metadata["license"], metadata["version"]) == (
        INFO.name, INFO.author, INFO.license, INFO.version)
    (graph,) = metadata["subgraph_metadata"]
    (image,), (scores,) = graph["input_tensor_metadata"], graph["output_tensor_metadata"]
    assert image["content"]["content_properties"]["color_space"] == "RGB"
    assert image["description"] == INFO.input_description
    assert "process_units" not in image  # raw pixels: no NormalizationOptions
    assert image["stats"] == {"max": [255.0], "min": [0.0]}
    assert scores["associated_files"] == [{
        "name": LABEL_FILE, "description": "Labels for categories that the model can recognize.",
        "type": "TENSOR_AXIS_LABELS"}]


@pytest.mark.tensorflow
@pytest.mark.slow
@needs_metadata_env
def test_metadata_leaves_outputs_identical_on_every_runtime(classifier_model, with_metadata, tmp_path):
    assert len(with_metadata) > len(classifier_model)
    images, _ = squares(30, seed=4)
    before = ModelRunner(classifier_model).probabilities_batch(images, batch_size=1)
    after = ModelRunner(with_metadata).probabilities_batch(images, batch_size=1)
    assert np.array_equal(before, after)
    assert before.max(axis=1).min() > 0  # real scores, not an all-zero output
    legacy = {}
    for name, model in {"plain": classifier_model, "metadata": with_metadata}.items():
        (tmp_path / f"{name}.tflite").write_bytes(model)
        legacy[name] = legacy_probabilities(tmp_path / f"{name}.tflite", images, tmp_path,
                                            batch_size=1)
    assert np.array_equal(legacy["plain"], legacy["metadata"])
    # Across runtimes an int8 kernel may round differently: one output step (1/256) at most.
    assert np.abs(legacy["metadata"] - after).max() <= ModelRunner(with_metadata).output_spec.scale


@pytest.mark.tensorflow
@pytest.mark.slow
@needs_metadata_env
@needs_mediapipe_env
@pytest.mark.parametrize("variant", ["with_metadata", "float_with_metadata"])
def test_mediapipe_image_classifier_agrees_with_the_project(variant, request, test_images, tmp_path):
    with_metadata = request.getfixturevalue(variant)
    model = tmp_path / "classifier.tflite"
    model.write_bytes(with_metadata)
    done = subprocess.run([str(MEDIAPIPE_PYTHON), "-c", MEDIAPIPE_CLASSIFY, str(model),
                           *(str(path) for path, _ in test_images)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    mediapipe_scores = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(mediapipe_scores) == len(test_images)
    runner = ModelRunner(with_metadata)
    right = 0
    for (path, label), scores in zip(test_images, mediapipe_scores):
        ours = runner.probabilities(read_rgb(path))
        assert set(scores) == set(FASHION_MNIST_LABELS)  # every category, named from the metadata
        top = next(iter(scores))  # MediaPipe sorts by descending score
        assert ours[FASHION_MNIST_LABELS.index(top)] == ours.max(), f"{path}: MediaPipe says {top}"
        theirs = np.array([scores[name] for name in FASHION_MNIST_LABELS])
        # The same numbers: both dequantize a uint8 output with its scale (1/256); no softmax added.
        np.testing.assert_allclose(theirs, ours, atol=1e-6, err_msg=str(path))
        right += int(ours.argmax()) == label
    assert right >= 0.8 * len(test_images)  # top-1 means something: the model names the colours


@needs_metadata_env
def test_models_mediapipe_cannot_run_are_refused_with_the_reason():
    mlp = (ROOT / "models" / "fashion_mlp_int8.tflite").read_bytes()  # [1, 28, 28] grayscale
    with pytest.raises(ValueError, match=r"model input is UINT8 \[1, 28, 28\], expected an RGB image"):
        add_image_classifier_metadata(mlp, INFO)


@pytest.mark.tensorflow
@pytest.mark.slow
@needs_metadata_env
def test_labels_must_match_the_output(classifier_model):
    with pytest.raises(ValueError, match="model output has 10 classes, 9 labels given"):
        add_image_classifier_metadata(classifier_model, replace(INFO, labels=FASHION_MNIST_LABELS[:9]))


@pytest.mark.tensorflow
@pytest.mark.slow
@needs_metadata_env
def test_the_same_model_and_labels_give_the_same_bytes_at_any_time(classifier_model,
                                                                     with_metadata):
    """The packed labels file carries a fixed date, not the time of writing (2 s resolution),
    so a rebuild of a shipped model is byte-identical."""
    time.sleep(2.1)
    assert add_image_classifier_metadata(classifier_model, INFO) == with_metadata


@pytest.mark.tensorflow
@pytest.mark.slow
@needs_metadata_env
def test_metadata_is_added_once_and_read_only_where_there(classifier_model, with_metadata):
    with pytest.raises(ValueError, match="model already has TFLite metadata"):
        add_image_classifier_metadata(with_metadata, INFO)
    with pytest.raises(ValueError, match="does not have metadata"):
        read_metadata(classifier_model)


@pytest.mark.tensorflow
@pytest.mark.slow
@needs_metadata_env
def test_raw_pixel_input_must_have_scale_one(trained):
    """Calibrated on dark images the uint8 input gets scale ~0.5: MediaPipe would feed it raw
    pixels, twice what the model expects, so 'raw pixels, no normalisation' is refused."""
    from train.quantize import convert

    model, calibration = trained
    dark = convert(model, "int8", calibration // 2)
    with pytest.raises(ValueError, match="need scale 1.0, zero point 0"):
        add_image_classifier_metadata(dark, INFO)


def test_missing_metadata_environment_is_a_clear_error(tmp_path):
    with pytest.raises(MetadataToolError, match="scripts/setup_extra_envs.sh"):
        add_image_classifier_metadata(b"model", INFO, python=tmp_path / "no-such-python")


SHIPPED_PHOTO_MODEL = ROOT / "models" / "fashion_photo_int8.tflite"


@pytest.mark.slow
@needs_mediapipe_env
@pytest.mark.skipif(not SHIPPED_PHOTO_MODEL.is_file(), reason="no shipped photo model")
def test_mediapipe_runs_the_shipped_photo_model_unchanged_and_agrees(fashion, tmp_path):
    """MediaPipe stretches a photo to the model's input where fashion-classify letterboxes it;
    given the letterboxed picture (which fashion-classify passes through as it is), both read
    the same scores and decide the same label."""
    import cv2

    from edge_runtime.classifier import Classifier
    from edge_runtime.media.image_io import read_image
    from edge_runtime.photo.preprocess import letterbox
    from train.photo.renderings import product_shot

    runner = ModelRunner(SHIPPED_PHOTO_MODEL)
    if runner.backend == "tflite-runtime":
        pytest.skip("MediaPipe runs LiteRT's kernels; tflite-runtime 2.14's differ on this deep "
                    "int8 network (tests/test_photo_model.py bounds how much)")
    rng = np.random.default_rng(5)
    chosen = range(0, 600, 20)  # 30 test garments, every class
    paths = []
    for index in chosen:
        path = tmp_path / f"{index}.png"
        shot = product_shot(fashion.test.images[index], rng)  # BGR
        cv2.imwrite(str(path), cv2.cvtColor(letterbox(shot, runner.layout), cv2.COLOR_RGB2BGR))
        paths.append(path)
    done = subprocess.run([str(MEDIAPIPE_PYTHON), "-c", MEDIAPIPE_CLASSIFY,
                           str(SHIPPED_PHOTO_MODEL), *map(str, paths)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    mediapipe_scores = [json.loads(line) for line in done.stdout.splitlines()]
    right = 0
    with Classifier(SHIPPED_PHOTO_MODEL) as clf:
        for path, index, scores in zip(paths, chosen, mediapipe_scores, strict=True):
            ours = runner.probabilities(read_rgb(path))
            theirs = np.array([scores[name] for name in FASHION_MNIST_LABELS])
            np.testing.assert_allclose(theirs, ours, atol=1e-6, err_msg=str(path))
            top = FASHION_MNIST_LABELS.index(next(iter(scores)))  # sorted by descending score
            decided = clf.classify(read_image(path, clf.photo_decode_side))
            assert ours[top] == ours[decided.class_id] == ours.max(), f"{path}: {decided.label}"
            right += decided.class_id == fashion.test.labels[index]
    assert right >= 0.8 * len(paths)


def _letterboxed_for_mediapipe():
    """scripts/mediapipe_classify.py's letterbox (the script runs in MediaPipe's environment and
    is no package: loaded from its file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mediapipe_classify",
                                                  ROOT / "scripts" / "mediapipe_classify.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.letterboxed


@pytest.mark.parametrize("height, width, suffix", [(900, 1200, ".jpg"), (3000, 4000, ".jpg"),
                                                   (140, 60, ".png")])
def test_the_letterbox_mediapipe_users_are_given_is_the_devices(height, width, suffix, tmp_path):
    import cv2

    from edge_runtime.interpreter.tensors import ImageLayout
    from edge_runtime.media.image_io import read_image
    from edge_runtime.photo.preprocess import letterbox, photo_pixels

    y, x = np.mgrid[0:height, 0:width]
    photo = np.stack([x * 255 // width, y * 255 // height, (x + y) * 128 // (height + width)],
                     -1).astype(np.uint8)
    cv2.circle(photo, (width // 2, height // 2), min(height, width) // 3, (40, 200, 90), -1)
    path = tmp_path / f"photo{suffix}"
    cv2.imwrite(str(path), cv2.GaussianBlur(photo, (0, 0), 2))
    device = letterbox(photo_pixels(read_image(path, 224)), ImageLayout(224, 224, 3))
    theirs = _letterboxed_for_mediapipe()(cv2.imread(str(path)))
    assert theirs.shape == device.shape == (224, 224, 3)
    border = (device == 127).all(-1)
    assert border.sum() > 224 * 40 and np.array_equal(border, (theirs == 127).all(-1))
    # The device decodes a large JPEG at a reduced scale first: a grey level apart on average.
    difference = np.abs(device.astype(int) - theirs.astype(int))
    assert difference.mean() < 1.0
    if suffix == ".png":  # enlarged alike, bilinear
        assert difference.max() == 0


@needs_mediapipe_env
@pytest.mark.photos
@pytest.mark.slow
def test_mediapipe_given_letterboxed_photos_reads_them_as_fashion_classify_does(tmp_path):
    from edge_runtime.apps.classify import main as classify

    photos = sorted(str(p) for p in REAL_PHOTOS.rglob("*.jpg"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a photo")
    done = subprocess.run([str(MEDIAPIPE_PYTHON), "scripts/mediapipe_classify.py", *photos,
                           str(broken)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1  # one file unreadable, the others classified
    assert f"{broken}: not a decodable image" in done.stderr
    theirs = {r["path"]: r["class_id"] for r in map(json.loads, done.stdout.splitlines())}
    assert sorted(theirs) == photos
    out = tmp_path / "ours.jsonl"
    assert classify([*photos, "--output", str(out)]) == 0
    ours = {r["path"]: r["class_id"] for r in map(json.loads, out.read_text().splitlines())}
    agree = sum(ours[path] == theirs[path] for path in photos) / len(photos)
    assert agree >= 0.95, f"top-1 agreement {agree:.1%} on {len(photos)} photos"
