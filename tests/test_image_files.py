"""Image files as phones and editors write them: data after the end of the image, EXIF
orientation, grayscale, 16-bit and alpha, through classification and photo-model training."""

from __future__ import annotations

import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from edge_runtime import Classifier
from edge_runtime.apps.classify import main
from edge_runtime.media.image_io import decode_image
from tests.test_photos import synthetic_photo


def exif_segment(orientation: int, order: str = ">", thumbnail: bytes = b"") -> bytes:
    """A JPEG APP1 segment: EXIF with one tag, Orientation, in big (>) or little (<) endian
    TIFF, and optionally a thumbnail JPEG after it, as cameras store one."""
    tiff = ((b"MM" if order == ">" else b"II") + struct.pack(order + "HI", 42, 8)
            + struct.pack(order + "H", 1) + struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)
            + struct.pack(order + "I", 0))
    payload = b"Exif\0\0" + tiff + thumbnail
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def with_exif(jpeg: bytes, orientation: int, order: str = ">", thumbnail: bytes = b"") -> bytes:
    """``jpeg`` with an EXIF segment right after its start-of-image marker."""
    return jpeg[:2] + exif_segment(orientation, order, thumbnail) + jpeg[2:]


def png_with_exif(png: bytes, orientation: int) -> bytes:
    """``png`` with an eXIf chunk (the EXIF TIFF structure) after its IHDR chunk."""
    tiff = exif_segment(orientation)[10:]
    chunk = struct.pack(">I", len(tiff)) + b"eXIf" + tiff + struct.pack(">I", zlib.crc32(b"eXIf" + tiff))
    return png[:33] + chunk + png[33:]


def encode(ext: str, pixels: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(ext, pixels)
    assert ok
    return buffer.tobytes()


def video_trailer(size: int, seed: int) -> bytes:
    """What a Motion Photo appends after the JPEG: an MP4 (its ftyp box, then data). No FF D9
    in it, so that only the JPEG's own end marker can end the image."""
    data = np.random.default_rng(seed).integers(0, 255, size, dtype=np.uint8).tobytes()
    return struct.pack(">I", 24) + b"ftypmp42" + bytes(12) + data


def records(capsys) -> dict[str, dict]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return {r["path"].rsplit("/", 1)[-1]: r for r in lines}


@pytest.fixture(scope="module")
def garment_jpeg(fashion) -> bytes:
    """A photo of a test-set pullover on a light background, 640x480."""
    return synthetic_photo(fashion.test.images[1], "light", np.random.default_rng(1), centred=True)


# ---------------------------------------------------------------- data after the image

def test_a_motion_photo_is_classified_like_the_photo_alone(garment_jpeg, tmp_path, capsys):
    (tmp_path / "still.jpg").write_bytes(garment_jpeg)
    (tmp_path / "motion.jpg").write_bytes(garment_jpeg + video_trailer(200_000, 2))
    assert main([str(tmp_path / "still.jpg"), str(tmp_path / "motion.jpg")]) == 0
    found = records(capsys)
    assert "error" not in found["motion.jpg"], found["motion.jpg"]
    assert found["motion.jpg"]["label"] == found["still.jpg"]["label"] == "Pullover"
    assert found["motion.jpg"]["score"] == found["still.jpg"]["score"]


def test_a_png_with_data_after_its_end_is_classified_and_a_cut_one_refused(garment_jpeg,
                                                                           tmp_path, capsys):
    png = encode(".png", cv2.imdecode(np.frombuffer(garment_jpeg, np.uint8), cv2.IMREAD_COLOR))
    (tmp_path / "trailer.png").write_bytes(png + b"appended by an editor" * 100)
    (tmp_path / "cut.png").write_bytes(png[: len(png) * 2 // 3])
    assert main([str(tmp_path / "trailer.png"), str(tmp_path / "cut.png")]) == 1
    found = records(capsys)
    assert found["trailer.png"]["label"] == "Pullover"
    assert "truncated PNG" in found["cut.png"]["error"]


def test_a_truncated_jpeg_is_refused_even_behind_an_exif_thumbnail(garment_jpeg, tmp_path,
                                                                   capsys):
    # The thumbnail ends with an end-of-image marker of its own, near the start of the file.
    thumbnail = encode(".jpg", np.full((60, 80, 3), 128, np.uint8))
    full = with_exif(garment_jpeg, 1, thumbnail=thumbnail)
    (tmp_path / "whole.jpg").write_bytes(full)
    (tmp_path / "cut.jpg").write_bytes(full[: len(full) * 3 // 5])
    (tmp_path / "cut_in_headers.jpg").write_bytes(full[:300])
    assert main([str(tmp_path / name) for name in ("whole.jpg", "cut.jpg",
                                                   "cut_in_headers.jpg")]) == 1
    found = records(capsys)
    assert found["whole.jpg"]["label"] == "Pullover"
    assert "truncated JPEG (no end-of-image marker" in found["cut.jpg"]["error"]
    assert "truncated or corrupt JPEG" in found["cut_in_headers.jpg"]["error"]


# ---------------------------------------------------------------- EXIF orientation

@pytest.fixture(scope="module")
def asymmetric() -> np.ndarray:
    """A colour picture no flip or turn maps onto itself: gradients and a corner mark."""
    y, x = np.mgrid[0:240, 0:320]
    picture = np.dstack([x * 255 // 320, y * 255 // 240, 255 - x * 255 // 640]).astype(np.uint8)
    picture[10:60, 10:40] = (0, 0, 255)
    return picture


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("order", [">", "<"])
def test_exif_orientation_is_applied_as_opencv_applies_it_on_every_decode_path(
        asymmetric, orientation, order):
    jpeg = with_exif(encode(".jpg", asymmetric), orientation, order)
    reference = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decode_image(jpeg).pixels, reference)  # full size (unchanged flag)
    large = with_exif(encode(".jpg", cv2.resize(asymmetric, (1280, 960))), orientation, order)
    reduced = cv2.imdecode(np.frombuffer(large, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
    assert np.array_equal(decode_image(large, min_side=200).pixels, reduced)  # libjpeg at 1/4
    png = png_with_exif(encode(".png", asymmetric), orientation)
    assert np.array_equal(decode_image(png).pixels,
                          cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR))


def test_a_sideways_photo_is_upright_small_or_large(garment_jpeg, tmp_path, capsys):
    """A phone stores the pixels as the sensor read them and the turn in EXIF: the small and
    the large file of one shot must reach the model the same way up."""
    upright = cv2.imdecode(np.frombuffer(garment_jpeg, np.uint8), cv2.IMREAD_COLOR)
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)  # orientation 6 undoes this
    small = with_exif(encode(".jpg", cv2.resize(stored, (240, 320))), 6)  # decoded whole
    large = with_exif(encode(".jpg", cv2.resize(stored, (1440, 1920))), 6)  # decoded at 1/8
    for data in (small, large):
        pixels = decode_image(data, min_side=160).pixels
        assert pixels.shape[:2] == (pixels.shape[1] * 3 // 4, pixels.shape[1])  # landscape
        same_size = cv2.resize(upright, pixels.shape[1::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(pixels.astype(int) - same_size).mean() < 6
    (tmp_path / "small.jpg").write_bytes(small)
    (tmp_path / "large.jpg").write_bytes(large)
    (tmp_path / "upright.jpg").write_bytes(garment_jpeg)
    assert main([str(tmp_path / name) for name in ("upright.jpg", "small.jpg", "large.jpg")]) == 0
    found = records(capsys)
    assert {r["label"] for r in found.values()} == {"Pullover"}


# ---------------------------------------------------------------- grayscale, 16-bit, alpha

def _variants(bgr: np.ndarray) -> dict[str, bytes]:
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    opaque = np.full(gray.shape, 255, np.uint8)
    return {"gray.jpg": encode(".jpg", gray), "gray.png": encode(".png", gray),
            "gray16.png": encode(".png", gray.astype(np.uint16) * 257),
            "bgr16.png": encode(".png", bgr.astype(np.uint16) * 257),
            "bgra.png": encode(".png", np.dstack([bgr, opaque])),
            "bgra16.png": encode(".png", np.dstack([bgr, opaque]).astype(np.uint16) * 257)}


@pytest.mark.parametrize("preprocess", ["auto", "photo", "fmnist"])
def test_gray_16_bit_and_alpha_files_are_classified_in_every_mode(garment_jpeg, tmp_path,
                                                                  capsys, preprocess):
    bgr = cv2.imdecode(np.frombuffer(garment_jpeg, np.uint8), cv2.IMREAD_COLOR)
    for size, picture in (("small", bgr), ("large", cv2.resize(bgr, (1920, 1440)))):
        for name, data in _variants(picture).items():
            (tmp_path / f"{size}_{name}").write_bytes(data)
    saved = tmp_path / "saved"
    assert main([str(tmp_path), "--preprocess", preprocess, "--save-inputs", str(saved)]) == 0
    found = records(capsys)
    assert len(found) == 12 and all(r["label"] for r in found.values()), found
    if preprocess != "fmnist":
        assert {r["label"] for r in found.values()} == {"Pullover"}
    assert len(list(saved.glob("*.png"))) >= 12


def test_alpha_is_kept_whatever_the_size_of_the_png(fashion):
    """A cut-out on a transparent background whose hidden colour is noise, at any size (large
    PNGs used to lose the alpha channel): the photo model sees the transparent parts white, as
    a catalogue shows a cut-out, and a 28x28 model's segmentation takes alpha as the mask."""
    from edge_runtime.interpreter.bundle import default_model_path

    rng = np.random.default_rng(4)
    silhouette = cv2.resize(fashion.test.images[1], (300, 300)) > 20
    for side in (400, 1600):
        noise = rng.integers(0, 256, (400, 400, 3), dtype=np.uint8)
        alpha = np.zeros((400, 400), np.uint8)
        alpha[50:350, 50:350] = silhouette * 255
        rgba = cv2.resize(np.dstack([noise, alpha]), (side, side), interpolation=cv2.INTER_NEAREST)
        with Classifier() as clf:
            image = decode_image(encode(".png", rgba), min_side=clf.photo_decode_side)
            prepared = clf.prepare(image)
        assert image.alpha is not None, side
        hidden = cv2.erode((cv2.resize(rgba[:, :, 3], (224, 224)) == 0).astype(np.uint8),
                           np.ones((5, 5), np.uint8)).astype(bool)
        assert hidden.mean() > 0.3 and prepared.pixels[hidden].min() >= 250, side
        with Classifier(default_model_path("fashion_mlp_int8"), preprocess="photo") as clf:
            prepared = clf.prepare(image)
        expected = cv2.resize(rgba[:, :, 3], prepared.mask.shape[::-1]) >= 128
        overlap = (prepared.mask & expected).sum() / (prepared.mask | expected).sum()
        assert overlap > 0.9, (side, overlap)


def test_gray_16_bit_and_alpha_photos_make_photo_model_training_views(garment_jpeg, tmp_path):
    from edge_runtime.interpreter.tensors import ImageLayout
    from train.photo.views import LabelledPicture, picture_views

    bgr = cv2.imdecode(np.frombuffer(garment_jpeg, np.uint8), cv2.IMREAD_COLOR)
    layout = ImageLayout(96, 96, 3)
    for name, data in _variants(cv2.resize(bgr, (1280, 960))).items():
        path = tmp_path / name
        path.write_bytes(data)
        views = picture_views(LabelledPicture(2, "train", path=path), 3, layout,
                              np.random.default_rng(0))
        assert views.shape == (3, 96, 96, 3) and views.dtype == np.uint8, name
        assert not np.array_equal(views[0], views[1]), name  # a re-shoot differs
        if name.startswith("gray"):  # still gray: the three channels agree in every view
            assert (views[..., 0] == views[..., 2]).all(), name


def test_lab_is_the_cie_formula_without_opencv_tables(monkeypatch):
    """Segmentation's L*a*b* is the CIE formula (OpenCV's constants, D65), computed in numpy:
    cv2.cvtColor's first L*a*b* conversion builds 5 MB of tables a process keeps, and its
    values are interpolated (here exact to 1e-3, where OpenCV is off by up to 0.35)."""
    from edge_runtime.media import imaging

    bgr = np.array([[[0, 0, 255], [0, 255, 0], [255, 0, 0], [255, 255, 255], [0, 0, 0],
                     [128, 128, 128]]], np.uint8)
    expected = [[53.2406, 80.0942, 67.2015], [87.7351, -86.1813, 83.1775],
                [32.2957, 79.1870, -107.8617], [100.0, 0.0, 0.0], [0.0, 0.0, 0.0],
                [53.5850, 0.0, 0.0]]  # the formula in float64
    levels = np.random.default_rng(0).integers(0, 256, (64, 256, 3), dtype=np.uint8)
    levels[0] = np.arange(256)[:, None]  # every grey level
    opencv = cv2.cvtColor(levels.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)

    convert = cv2.cvtColor

    def no_opencv_lab(pixels, code):
        assert code not in (cv2.COLOR_BGR2Lab, cv2.COLOR_RGB2Lab), "OpenCV's L*a*b* tables"
        return convert(pixels, code)

    monkeypatch.setattr(imaging.cv2, "cvtColor", no_opencv_lab)
    np.testing.assert_allclose(imaging.to_lab(bgr)[0], expected, atol=1e-3)
    ours = imaging.to_lab(levels)
    assert ours.dtype == np.float32 and ours.shape == levels.shape
    assert np.abs(ours - opencv).max() < 0.5
