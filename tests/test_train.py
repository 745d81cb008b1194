"""Real, short training runs on a subset of the real data."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def train_and_read_metrics(args: list[str], out, capsys) -> dict:
    """Run fashion-train with ``args`` into ``out``; check that it reports and writes every
    output (the plots as PNG files); return its metrics."""
    from train.cli import main
    from train.report import METRICS_FILE, MODEL_FILE, PLOT_FILES, REPORT_FILE

    assert main([*args, "--out", str(out)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    for name in [MODEL_FILE, METRICS_FILE, REPORT_FILE, *PLOT_FILES.values()]:
        assert (out / name).stat().st_size > 0, name
    for name in PLOT_FILES.values():
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE
    return json.loads((out / METRICS_FILE).read_text())


@pytest.mark.slow
def test_cli_trains_a_model_that_learns_and_writes_every_output(tmp_path, capsys):
    from train.report import REPORT_FILE

    out = tmp_path / "run"
    metrics = train_and_read_metrics(["--epochs", "4", "--limit", "4000", "--seed", "3"], out,
                                     capsys)
    # 3,600 training images, 4 epochs, scored on the full 10,000-image test set: chance is 10%.
    assert metrics["n_test"] == 10_000 and metrics["n_train"] == 3600
    assert metrics["test_accuracy"] > 0.70
    assert np.array(metrics["confusion_matrix"]).sum() == 10_000
    assert set(metrics["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(metrics["history"]["loss"]) == 4
    assert metrics["seed"] == 3 and len(metrics["data"]["sha256"]) == 4
    assert {"tensorflow", "keras", "numpy"} <= set(metrics["versions"])
    assert metrics["architecture"] == "MLP 784-128-64-10" and metrics["config"]["arch"] == "mlp"
    assert metrics["parameters"] == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    report = (out / REPORT_FILE).read_text()
    assert "Ankle boot" in report and "macro avg" in report
    assert not list(out.glob(".*tmp*")), "temporary files left behind"


@pytest.mark.slow
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


@pytest.mark.slow
def test_same_seed_same_model(fashion):
    from train.training import TrainConfig, train_model

    config = TrainConfig(epochs=2, limit=2000, seed=11)
    first, second = (train_model(fashion.train.images, fashion.train.labels, config)
                     for _ in range(2))
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_weight_decay_shrinks_the_weights(fashion):
    from train.training import TrainConfig, train_model

    def kernel_norm(weight_decay: float) -> float:
        config = TrainConfig(epochs=2, limit=2000, seed=5, weight_decay=weight_decay)
        model = train_model(fashion.train.images, fashion.train.labels, config).model
        return float(np.linalg.norm(model.get_layer("dense_128").kernel.numpy()))

    # Decoupled decay multiplies the weights by (1 - lr x decay) every step: 30 steps at a
    # mean lr of 5e-4 with decay 50 leave about exp(-0.75) = 47% of them.
    assert kernel_norm(50.0) < 0.6 * kernel_norm(0.0)


@pytest.mark.slow
def test_cnn_trains_for_an_epoch_on_a_slice_and_reports_like_the_mlp(tmp_path, capsys):
    import keras

    from train.report import MODEL_FILE

    out = tmp_path / "cnn"
    # Learning rate 1e-3: the default 2e-3 is chosen for 15 epochs; after one epoch of 22 steps
    # it reads 44% of the test set (43% after two), 1e-3 over 50%.
    metrics = train_and_read_metrics(["--arch", "cnn", "--epochs", "1", "--limit", "3000",
                                      "--learning-rate", "1e-3"], out, capsys)
    assert metrics["architecture"].startswith("CNN") and metrics["config"]["arch"] == "cnn"
    assert metrics["n_train"] == 2700 and metrics["n_test"] == 10_000
    assert len(metrics["history"]["val_accuracy"]) == 1
    assert metrics["test_accuracy"] > 0.5  # one epoch on 2,700 images; chance is 10%
    model = keras.models.load_model(out / MODEL_FILE)
    assert model.name == "fashion_cnn" and model.inputs[0].shape[1:] == (28, 28)
    assert metrics["parameters"] == model.count_params()
    assert any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)


def test_arch_cnn_takes_the_cnn_defaults_and_options_override_them():
    from train.cli import DEFAULTS, _config, build_parser

    parser = build_parser()
    cnn = _config(parser.parse_args(["--arch", "cnn"]), parser)
    assert cnn == DEFAULTS["cnn"] and cnn.arch == "cnn"
    assert _config(parser.parse_args([]), parser).arch == "mlp"
    given = _config(parser.parse_args(["--arch", "cnn", "--epochs", "2", "--seed", "4"]), parser)
    assert (given.arch, given.epochs, given.seed) == ("cnn", 2, 4)


def test_unknown_arch_is_a_one_line_usage_error(capsys):
    from train.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--arch", "resnet"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("fashion-train: error: argument --arch: invalid choice: 'resnet'")
    assert "mlp" in error and "cnn" in error


@pytest.mark.parametrize("value", ["-0.1", "1.5"])
def test_an_int8_share_outside_0_to_1_is_a_one_line_usage_error(capsys, value):
    from train.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--arch", "photo-lite0", "--photos", ".", "--int8-share", value])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == f"fashion-train: error: --int8-share must be between 0 and 1, got {float(value)}"


def test_build_model_refuses_an_unknown_architecture():
    from train.model import build_model

    with pytest.raises(ValueError, match="unknown architecture 'resnet', expected one of"):
        build_model("resnet")
