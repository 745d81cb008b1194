"""The IDX loader on the real files, and on broken files the tests make."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from train import data as fdata
from train.data import DataError, DataNotFoundError, find_data_dir, load_split, read_idx


def test_real_files_have_the_documented_shape_and_balance(fashion):
    assert fashion.train.images.shape == (60_000, 28, 28)
    assert fashion.test.images.shape == (10_000, 28, 28)
    assert fashion.train.images.dtype == np.uint8
    assert np.bincount(fashion.train.labels, minlength=10).tolist() == [6000] * 10
    assert np.bincount(fashion.test.labels, minlength=10).tolist() == [1000] * 10
    # Garment bright on black, centred: the side columns are dark, the centre is not.
    assert fashion.test.images[:, :, 0].mean() < 5 < 100 < fashion.test.images[:, 14, 14].mean()
    assert len(fashion.sha256) == 4
    assert all(len(h) == 64 for h in fashion.sha256.values())


def _write_idx(path, magic, dims, payload: bytes, compress=True):
    raw = struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload
    (gzip.open if compress else open)(path, "wb").write(raw)
    return raw


def test_truncated_gzip_names_the_file(tmp_path):
    good = tmp_path / "good.gz"
    _write_idx(good, 0x801, (100,), bytes(100))
    broken = tmp_path / "train-labels-idx1-ubyte.gz"
    broken.write_bytes(good.read_bytes()[:-12])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        read_idx(broken, 0x801)


def test_payload_shorter_than_header_says_is_reported(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    _write_idx(path, 0x803, (10, 28, 28), bytes(9 * 28 * 28))
    with pytest.raises(DataError, match=r"t10k-images.*expected 7856.*truncated"):
        read_idx(path, 0x803)


def test_wrong_magic_is_reported_with_both_values(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    _write_idx(path, 0x803, (1, 1, 1), bytes(1), compress=False)
    with pytest.raises(DataError, match="0x00000803, expected 0x00000801"):
        read_idx(path, 0x801)


def test_short_split_is_refused_not_loaded_silently(tmp_path):
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", 0x803, (5, 28, 28), bytes(5 * 784))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", 0x801, (5,), bytes(5))
    with pytest.raises(DataError, match="5 images, expected 10000"):
        load_split(tmp_path, "test")


def test_labels_out_of_range_are_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(fdata.SPLIT_SIZES, "test", 3)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", 0x803, (3, 28, 28), bytes(3 * 784))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", 0x801, (3,), bytes([1, 12, 3]))
    with pytest.raises(DataError, match="label 12 found, expected 0..9"):
        load_split(tmp_path, "test")


def test_missing_data_message_lists_every_place_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(fdata, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(fdata, "KERAS_CACHE_DIR", tmp_path / "keras")
    with pytest.raises(DataNotFoundError) as info:
        find_data_dir()
    message = str(info.value)
    assert str(tmp_path / "debian") in message and str(tmp_path / "keras") in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_explicit_data_dir_without_files_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(DataNotFoundError, match=f"--data-dir {tmp_path}"):
        find_data_dir(tmp_path)


def test_train_cli_reports_missing_data_in_one_line(tmp_path, monkeypatch, capsys):
    from train.cli import main

    monkeypatch.setattr(fdata, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr(fdata, "KERAS_CACHE_DIR", tmp_path / "none")
    assert main(["--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fashion-train: error: Fashion-MNIST not found") and "\n" not in err
