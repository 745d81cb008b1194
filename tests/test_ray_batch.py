"""``fashion-classify-ray`` on a local Ray cluster of 2 CPUs: a few hundred real files, bad ones
among them, give ``fashion-classify``'s records line for line; re-runs resume; URIs work.

The tests that need Ray skip, with the reason, where it is not installed (the edge
environments); the others run everywhere.
"""

from __future__ import annotations

import json
import sys
from operator import itemgetter
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.apps.classify import main as classify_main
from edge_runtime.apps.classify_ray import main
from tests.bad_inputs import write_bad_inputs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ray_cluster():
    """A new local Ray cluster of 2 CPUs for this module (whatever RAY_ADDRESS says), shut down
    at its end; the command finds it running and uses it."""
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install '.[ray]')")
    import logging

    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=128 * 1024**2, logging_level=logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, fashion):
    """300 test-set PNGs, 6 product shots (JPEG, photo path) and every kind of bad input;
    the sources to classify, as a user would give them."""
    root = tmp_path_factory.mktemp("catalog")
    pngs = root / "pngs"
    pngs.mkdir()
    for i, image in enumerate(fashion.test.images[:300]):
        cv2.imwrite(str(pngs / f"{i:03d}.png"), image)
    shots = root / "shots"
    shots.mkdir()
    for i, image in enumerate(fashion.test.images[300:306]):
        canvas = np.full((360, 480, 3), 250, np.uint8)
        canvas[40:264, 200:424] = cv2.resize(255 - image, (224, 224))[:, :, None]
        cv2.imwrite(str(shots / f"shot_{i}.jpg"), canvas)
    bad = root / "bad"
    write_bad_inputs(bad)
    return root, [str(pngs), str(shots / "*.jpg"), str(bad), str(root / "empty_dir"),
                  str(root / "missing.png")]


def reference_lines(sources: list[str], out: Path) -> list[str]:
    """What ``fashion-classify`` writes for ``sources``, line by line."""
    assert classify_main([*sources, "--output", str(out)]) == 1  # the bad files fail
    return out.read_text(encoding="utf-8").splitlines()


def part_lines(directory: Path) -> list[str]:
    return [line for part in sorted(directory.glob("part-*.jsonl"))
            for line in part.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_json_lines_and_parquet_hold_fashion_classify_records(ray_cluster, catalog, tmp_path,
                                                               capsys):
    from edge_runtime.apps.record_parts import read_records, record_schema

    root, sources = catalog
    expected = reference_lines(sources, tmp_path / "reference.jsonl")
    assert len(expected) == 300 + 6 + 6 + 2  # the text file is no image: counted, not recorded
    out = tmp_path / "jsonl"
    assert main([*sources, "--out", str(out), "--workers", "2", "--batch-size", "64"]) == 1
    assert sorted(part_lines(out)) == sorted(expected)  # the same lines, in any order
    err = capsys.readouterr().err
    assert "315 files listed, 0 already recorded" in err
    assert "; 315 files: 306 classified, 8 unreadable, 1 not an image (.png 1); by 2 workers" in err
    assert "Traceback" not in err
    by_path = {json.loads(line)["path"]: json.loads(line) for line in expected}
    assert by_path[str(root / "bad" / "pixel_bomb.png")]["error"].endswith(
        "above the 50,000,000-pixel limit; refusing to decode")
    assert by_path[str(root / "shots" / "shot_0.jpg")]["label"] is not None

    out = tmp_path / "parquet"
    assert main([*sources, "--out", str(out), "--format", "parquet", "--workers", "2"]) == 1
    import pyarrow as pa

    want = pa.Table.from_pylist([json.loads(line) for line in expected], schema=record_schema())
    got = read_records(str(out))
    assert sorted(got, key=itemgetter("path")) == sorted(want.to_pylist(), key=itemgetter("path"))
    assert {p.suffix for p in out.iterdir()} == {".parquet"}


@pytest.mark.slow
def test_a_rerun_writes_nothing_twice_and_classifies_only_new_files(ray_cluster, fashion,
                                                                     tmp_path, capsys):
    source = tmp_path / "in"
    source.mkdir()
    for i, image in enumerate(fashion.test.images[:150]):
        cv2.imwrite(str(source / f"{i:03d}.png"), image)
    out = tmp_path / "out"
    assert main([str(source), "--out", str(out), "--batch-size", "50"]) == 0
    first = sorted(out.iterdir())
    assert len(first) == 3 and len(part_lines(out)) == 150  # a part per batch

    assert main([str(source), "--out", str(out)]) == 0  # nothing left to do
    assert sorted(out.iterdir()) == first
    assert "150 files listed, 150 already recorded" in capsys.readouterr().err

    for i, image in enumerate(fashion.test.images[150:160], start=150):
        cv2.imwrite(str(source / f"{i:03d}.png"), image)
    assert main([str(source), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "160 files listed, 150 already recorded" in err
    assert "; 10 files: 10 classified, 0 unreadable, 0 not images;" in err
    paths = [json.loads(line)["path"] for line in part_lines(out)]
    assert len(paths) == len(set(paths)) == 160
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.slow
def test_uri_sources_and_output_go_through_pyarrow(ray_cluster, fashion, tmp_path):
    from edge_runtime.apps.record_parts import read_records

    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    for i, image in enumerate(fashion.test.images[:20]):
        cv2.imwrite(str(source / ("sub" if i % 2 else "") / f"{i:02d}.png"), image)
    (source / "notes.txt").write_text("not an image: counted, not recorded\n")
    (source / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    expected = {json.loads(line)["path"]: json.loads(line)
                for line in reference_lines([str(source)], tmp_path / "reference.jsonl")}
    uri = f"file://{source}"
    status = main([uri, f"{uri}/sub/1*.png", f"{uri}/nothing/", "--out",
                   f"file://{tmp_path}/out", "--workers", "1"])
    assert status == 1
    records = read_records(f"file://{tmp_path}/out")
    by_uri = {r["path"]: r for r in records}
    assert len(records) == 21 + 5 + 1  # the directory, the glob (11, 13, ...), the missing one
    for path, record in expected.items():
        got = dict(by_uri[f"file://{path}"], path=path)
        if "error" in record:  # the message names the file as given
            assert got["error"] == record["error"].replace(path, f"file://{path}")
        else:
            assert got == record
    assert "no such file or directory" in by_uri[f"{uri}/nothing/"]["error"]


@pytest.mark.slow
def test_an_output_of_the_other_format_and_a_bad_model_are_usage_errors(ray_cluster, fashion,
                                                                        tmp_path, capsys):
    source = tmp_path / "boot.png"
    cv2.imwrite(str(source), fashion.test.images[0])
    out = tmp_path / "out"
    assert main([str(source), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([str(source), "--out", str(out), "--format", "parquet"]) == 2
    # Ray forwards the actors' stderr (LiteRT's greeting) whenever it arrives: only ours counts.
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "holds jsonl parts (1), expected parquet" in errors[0]
    assert main([str(source), "--out", str(out), "--model", str(tmp_path / "none.tflite")]) == 2
    err = capsys.readouterr().err
    assert "none.tflite" in err and "Traceback" not in err


@pytest.mark.slow
def test_the_actors_never_import_tensorflow(ray_cluster, fashion, tmp_path):
    """The actor's code, run in a Ray worker process, classifies without loading TensorFlow."""
    import pyarrow as pa

    from edge_runtime.apps.ray_batch import ClassifyFiles
    from edge_runtime.apps.record_parts import read_records
    from edge_runtime.classifier import ClassifierOptions

    image = tmp_path / "boot.png"
    cv2.imwrite(str(image), fashion.test.images[0])

    @ray_cluster.remote
    def classify_in_a_worker(path: str, out: str) -> tuple[dict, list[str]]:
        actor = ClassifyFiles(ClassifierOptions(), out, "jsonl", "probe")
        summary = actor(pa.table({"path": [path], "error": [""], "skipped": [""]}))
        loaded = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "tf_keras"})
        return summary, loaded

    summary, loaded = ray_cluster.get(classify_in_a_worker.remote(str(image), str(tmp_path / "out")))
    assert summary["records"] == [1] and summary["errors"] == [0] and loaded == []
    assert read_records(str(tmp_path / "out"))[0]["label"] == "Ankle boot"


@pytest.mark.slow
def test_files_that_are_not_images_are_counted_and_recorded_with_all_files(ray_cluster, fashion,
                                                                           tmp_path, capsys):
    source = tmp_path / "in"
    source.mkdir()
    cv2.imwrite(str(source / "boot.png"), fashion.test.images[0])
    (source / "boot.txt").write_bytes((source / "boot.png").read_bytes())  # renamed: an image
    (source / "notes.txt").write_text("shopping list\n")
    (source / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + bytes(100))
    assert classify_main([str(source), "--all-files", "--output", str(tmp_path / "ref.jsonl")]) == 0
    expected = (tmp_path / "ref.jsonl").read_text(encoding="utf-8").splitlines()
    capsys.readouterr()
    out = tmp_path / "all"
    assert main([str(source), "--out", str(out), "--all-files"]) == 0
    assert sorted(part_lines(out)) == sorted(expected)
    assert sum('"skipped": "not an image"' in line for line in expected) == 2
    err = capsys.readouterr().err
    assert "4 files: 2 classified, 0 unreadable, 2 not images (.mp4 1, .txt 1)" in err
    strict = tmp_path / "strict"
    assert main([str(source), "--out", str(strict), "--strict"]) == 1
    assert sorted(json.loads(line)["path"] for line in part_lines(strict)) == [
        str(source / "boot.png"), str(source / "boot.txt")]


def test_without_ray_the_command_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Ray Data is not installed" in err and "pip install" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_the_ray_extra_adds_nothing_to_the_edge_install():
    read_configuration = pytest.importorskip("setuptools.config.pyprojecttoml").read_configuration
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        project = read_configuration(ROOT / "pyproject.toml")["project"]
    extras = project["optional-dependencies"]
    assert not [r for r in extras["edge"] + project["dependencies"] if "ray" in r or "arrow" in r]
    assert any(r.startswith("ray[data]") for r in extras["ray"])
    assert not [r for r in extras["ray"] if "tensorflow" in r]
    assert project["scripts"]["fashion-classify-ray"] == "edge_runtime.apps.classify_ray:main"
