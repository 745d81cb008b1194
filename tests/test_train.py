"""Real, short training runs on a subset of the real data."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_cli_trains_a_model_that_learns_and_writes_every_output(tmp_path, capsys):
    from train.cli import main
    from train.report import METRICS_FILE, MODEL_FILE, PLOT_FILES, REPORT_FILE

    out = tmp_path / "run"
    assert main(["--epochs", "4", "--limit", "4000", "--seed", "3", "--out", str(out)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    for name in [MODEL_FILE, METRICS_FILE, REPORT_FILE, *PLOT_FILES.values()]:
        assert (out / name).stat().st_size > 0, name
    for name in PLOT_FILES.values():
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE
    metrics = json.loads((out / METRICS_FILE).read_text())
    # 3,600 training images, 4 epochs, scored on the full 10,000-image test set: chance is 10%.
    assert metrics["n_test"] == 10_000 and metrics["n_train"] == 3600
    assert metrics["test_accuracy"] > 0.70
    assert np.array(metrics["confusion_matrix"]).sum() == 10_000
    assert set(metrics["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(metrics["history"]["loss"]) == 4
    assert metrics["seed"] == 3 and len(metrics["data"]["sha256"]) == 4
    assert {"tensorflow", "keras", "numpy"} <= set(metrics["versions"])
    report = (out / REPORT_FILE).read_text()
    assert "Ankle boot" in report and "macro avg" in report
    assert not list(out.glob(".*tmp*")), "temporary files left behind"


def test_model_takes_raw_pixels_and_has_the_seed_architecture(tmp_path, fashion):
    import keras

    from train.training import TrainConfig, train_model

    result = train_model(fashion.train.images, fashion.train.labels,
                         TrainConfig(epochs=1, limit=2000, dropout=0.1))
    dense = [layer for layer in result.model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [128, 64, 10]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "softmax"]
    probabilities = result.model.predict(fashion.test.images[:50], verbose=0)
    assert probabilities.shape == (50, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_same_seed_same_model(fashion):
    from train.training import TrainConfig, train_model

    config = TrainConfig(epochs=2, limit=2000, seed=11)
    first, second = (train_model(fashion.train.images, fashion.train.labels, config)
                     for _ in range(2))
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weight_decay_shrinks_the_weights(fashion):
    from train.training import TrainConfig, train_model

    def kernel_norm(weight_decay: float) -> float:
        config = TrainConfig(epochs=2, limit=2000, seed=5, weight_decay=weight_decay)
        model = train_model(fashion.train.images, fashion.train.labels, config).model
        return float(np.linalg.norm(model.get_layer("dense_128").kernel.numpy()))

    # Decoupled decay multiplies the weights by (1 - lr x decay) every step: 30 steps at a
    # mean lr of 5e-4 with decay 50 leave about exp(-0.75) = 47% of them.
    assert kernel_norm(50.0) < 0.6 * kernel_norm(0.0)


def test_photo_training_set_renders_like_the_device(fashion):
    from edge_runtime.photo.preprocess import GARMENT_MEAN, render_garment
    from train.augment import photo_training_set

    images, labels = fashion.train.images[:200], fashion.train.labels[:200]
    x, y = photo_training_set(images, labels, copies=2, seed=0)
    assert x.shape == (600, 28, 28) and x.dtype == np.uint8
    assert np.array_equal(y, np.tile(labels, 3))
    # The first copy is the device's own rendering of the untouched garments.
    assert np.array_equal(x[0], render_garment(images[0], images[0] > 12))
    garment = x[x > 0]
    assert abs(garment.mean() - GARMENT_MEAN) < 25
    assert not np.array_equal(x[200:400], x[:200])  # augmented copies differ


def test_photo_variant_trains_with_the_same_architecture(fashion):
    from train.training import TrainConfig, train_model

    result = train_model(fashion.train.images, fashion.train.labels,
                         TrainConfig(epochs=1, limit=1000, photo_copies=1))
    assert result.n_train == 900 * 2 and result.n_validation == 100 * 2
    assert [layer.units for layer in result.model.layers if hasattr(layer, "units")] == [128, 64, 10]


def test_cli_adds_the_real_photos_outside_the_held_out_fold(tmp_path, fashion):
    from edge_runtime.photo.folds import photo_fold
    from tests.test_photos import write_photo_folder
    from train.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    written = write_photo_folder(photos, fashion, [("Dress", 3)], 6, 2)
    out = tmp_path / "run"
    assert main(["--epochs", "1", "--limit", "1000", "--real-photos", str(photos),
                 "--real-photo-copies", "2", "--holdout-fold", "1", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    used = sum(photo_fold(relative) != 1 for relative in written)
    assert 0 < used < len(written)
    assert metrics["n_real_photos"] == used and metrics["n_train"] == 900 + 2 * used
    assert metrics["config"]["holdout_fold"] == 1


def test_cli_refuses_a_missing_real_photos_folder(tmp_path, capsys):
    from train.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["--real-photos", str(tmp_path / "nowhere")])
    assert stopped.value.code == 2 and "nowhere: not a directory" in capsys.readouterr().err


def test_cli_reports_a_real_photos_folder_without_photos_in_one_line(tmp_path, capsys):
    from train.cli import main

    (tmp_path / "Coat").mkdir()
    (tmp_path / "Coat" / "notes.txt").write_text("no photos here")
    assert main(["--epochs", "1", "--limit", "100", "--real-photos", str(tmp_path),
                 "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}: no photos outside fold 0" in err and "Traceback" not in err
