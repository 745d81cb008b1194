"""scripts/compare_records.py, the verdict of the arm64 check, on records written here."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("compare_records",
                                               ROOT / "scripts" / "compare_records.py")
compare_records = importlib.util.module_from_spec(_spec)
sys.modules["compare_records"] = compare_records  # its dataclasses look their module up there
_spec.loader.exec_module(compare_records)

STEP = 1 / 256


def _record(path: str, label: str, top: float, second: float) -> dict:
    return {"path": path, "label": label, "class_id": 0 if label == "Dress" else 1, "score": top,
            "top_k": [{"label": label, "class_id": 0, "score": top},
                      {"label": "other", "class_id": 1, "score": second}]}


def _write(root: Path, platform: str, model: str, records: list[dict]) -> None:
    folder = root / platform / "ai-edge-litert"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{model}.files.rc").write_text("0\n")
    (folder / f"{model}.files.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _verdict(tmp_path: Path, input_shape: list[int], host: list[dict], arm: list[dict]):
    models = tmp_path / "models"
    models.mkdir()
    (models / "m.json").write_text(json.dumps({
        "input": {"shape": input_shape},
        "output": {"shape": [1, 10], "dtype": "uint8", "scale": STEP}}))
    _write(tmp_path, "host", "m", host)
    _write(tmp_path, "arm64", "m", arm)
    pairs = compare_records.compare_platforms(tmp_path / "host", tmp_path / "arm64", models)
    report = compare_records.report(pairs, tmp_path / "host", tmp_path / "arm64", [], [])
    return [problem for pair in pairs for problem in pair.problems], report


@pytest.mark.parametrize("gap, passes", [(0.05, True), (0.3, False)])
def test_a_photo_model_may_flip_a_label_only_on_a_near_tie(tmp_path, gap, passes):
    host = [_record("a.png", "Dress", 0.5, 0.5 - gap), _record("b.png", "Coat", 0.9, 0.05)]
    arm = [_record("a.png", "Coat", 0.5, 0.5 - gap),
           _record("b.png", "Coat", 0.9 + 12 * STEP, 0.05)]  # a resized input: scores move
    problems, report = _verdict(tmp_path, [1, 224, 224, 3], host, arm)
    assert (problems == []) is passes, problems
    if passes:
        assert "1 labels differ, each on a near tie" in report and "RESULT: PASS" in report


def test_a_28x28_model_must_agree_on_every_label_and_within_a_step(tmp_path):
    host = [_record("a.png", "Dress", 0.5, 0.45), _record("b.png", "Coat", 0.9, 0.05)]
    arm = [_record("a.png", "Coat", 0.5, 0.45), _record("b.png", "Coat", 0.9 + 2 * STEP, 0.05)]
    problems, report = _verdict(tmp_path, [1, 28, 28], host, arm)
    assert len(problems) == 2 and "RESULT: FAIL" in report
    assert "a.png: host Dress" in problems[0] and "b.png: score" in problems[1]


def test_a_28x28_model_s_scores_on_photo_inputs_are_reported_not_gated(tmp_path):
    """Photo inputs take the photo path, whose float segmentation may move a pixel on arm64:
    a score may differ there, a label only on a near tie; on a PNG the gate still holds."""
    host = [_record("photos/shot_0.jpg", "Dress", 0.82, 0.1),
            _record("photos/shot_1.jpg", "Dress", 0.5, 0.45), _record("b.png", "Coat", 0.9, 0.05)]
    arm = [_record("photos/shot_0.jpg", "Dress", 0.82 + 3 * STEP, 0.1),
           _record("photos/shot_1.jpg", "Coat", 0.5, 0.45), _record("b.png", "Coat", 0.9, 0.05)]
    problems, report = _verdict(tmp_path, [1, 28, 28], host, arm)
    assert problems == [] and "RESULT: PASS" in report
    assert "photo inputs (photo path): 1 labels differ, each on a near tie" in report
    arm[2] = _record("b.png", "Coat", 0.9 + 2 * STEP, 0.05)
    (tmp_path / "again").mkdir()
    problems, _ = _verdict(tmp_path / "again", [1, 28, 28], host, arm)
    assert len(problems) == 1 and "b.png: score" in problems[0]


def test_a_broken_install_fails_records_that_agree(tmp_path):
    records = [_record("b.png", "Coat", 0.9, 0.05)]
    models = tmp_path / "models"
    models.mkdir()
    (models / "m.json").write_text(json.dumps({"input": {"shape": [1, 28, 28]}}))
    _write(tmp_path, "host", "m", records)
    _write(tmp_path, "arm64", "m", records)
    args = [str(tmp_path / "host"), str(tmp_path / "arm64"), "--models", str(models)]
    assert compare_records.main(args) == 0
    failure = "install: picamera2 does not import"
    assert compare_records.main([*args, "--failure", failure]) == 1
    report = compare_records.report(
        compare_records.compare_platforms(tmp_path / "host", tmp_path / "arm64", models),
        tmp_path / "host", tmp_path / "arm64", [], [], [failure])
    assert f"MISMATCH {failure}" in report and report.endswith("RESULT: FAIL")
