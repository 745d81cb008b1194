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
