"""The photo list (train/photo_list.csv) and ``fashion-photos``, which assembles it.

The list is checked against the manifests in ../shared (when present). Downloads go to a loopback
HTTP server laid out as raw.githubusercontent.com ({repo}/{commit}/{path}) and serving a few real
photos copied from ../shared, or synthetic files and a synthetic list when ../shared is absent.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.labels import FASHION_MNIST_LABELS
from edge_runtime.photo.folds import find_photos, photo_fold
from train.photo import assemble, photo_list
from train.photo.photo_list import (PHOTO_LIST, Photo, PhotoListError, class_folder, format_photo_list,
                              photo_list_sha256, photos_from_manifests, read_photo_list,
                              scored_sets)

ROOT = Path(__file__).resolve().parent.parent
SHARED_EVAL = ROOT.parent / "shared" / "real-photos"
SHARED_TRAIN = ROOT.parent / "shared" / "real-photos-train"
HAS_SHARED = SHARED_EVAL.is_dir() and SHARED_TRAIN.is_dir()
needs_shared = pytest.mark.skipif(not HAS_SHARED,
                                  reason=f"{SHARED_EVAL} or {SHARED_TRAIN} not present")


def test_committed_list_holds_every_source_with_folds_that_keep_products_together():
    photos = read_photo_list()
    assert sum(p.set == "train" for p in photos) == 2680
    assert sum(p.set == "eval" for p in photos) == 417
    assert all(p.fold is None for p in photos if p.set == "train")
    scored = [p for p in photos if p.set != "train"]
    assert all(p.fold == photo_fold(p.path) for p in scored)
    assert {p.fold for p in scored} == {0, 1, 2}
    # Every source is scored in folds and can be held out whole; a product's photos (a shared
    # file-name prefix) never straddle two folds.
    assert scored_sets(photos)[0] == "eval" and len(scored_sets(photos)) >= 5
    assert {p.source for p in photos} == {"clothing-dataset", *scored_sets(photos)[1:]}
    groups = {}
    for p in scored:
        name = p.path.split("/")[1]
        if "__" in name:
            groups.setdefault((p.set, name.split("__")[0]), set()).add(p.fold)
    assert groups and all(len(folds) == 1 for folds in groups.values())
    assert len({p.sha256 for p in photos if p.crop is None}) == sum(p.crop is None for p in photos)
    assert all(p.path.split("/")[0] == class_folder(p.class_id) for p in photos)
    assert all(p.path.endswith(".png") for p in photos if p.crop is not None)
    # Each repository's licence is recorded with it, and one repository has one licence.
    assert all(p.license for p in photos)
    assert len({(p.source_repo, p.license) for p in photos}) == len({p.source_repo for p in photos})
    assert {p.license for p in photos if p.source == "clothing-dataset" and
            p.class_name != "Bag"} == {"CC0-1.0"}
    assert photo_list_sha256() == hashlib.sha256(PHOTO_LIST.read_bytes()).hexdigest()
    assert PHOTO_LIST.stat().st_size < 2_000_000


@pytest.mark.photos
@needs_shared
def test_committed_list_is_what_the_shared_manifests_give(capsys):
    from_manifests = photos_from_manifests(SHARED_EVAL, SHARED_TRAIN)
    listed = read_photo_list()
    assert from_manifests == [p for p in listed if p.source == "clothing-dataset"]
    assert photo_list.main(["--check"]) == 0
    assert f"{len(listed)} photos, matches the manifests" in capsys.readouterr().out


@pytest.mark.parametrize("bad, message", [
    (lambda row: row.replace("Ankle_boot/", "../", 1), "expected <class folder>/<file>"),
    (lambda row: row.replace(",train,,", ",train,1,", 1), "fold 1, expected None"),
    (lambda row: row.replace(",9,", ",3,", 1), "not in Dress/, the folder of class 3"),
    (lambda row: row.rsplit(",", 3)[0] + ",abc,eye,", "sha256 'abc' is not 64 lowercase hex"),
    (lambda row: row.replace(",clothing-dataset,", ",elsewhere,", 1), "'elsewhere' has no #source"),
])
def test_a_malformed_list_row_is_one_line_naming_its_line(tmp_path, capsys, bad, message):
    lines = PHOTO_LIST.read_text(encoding="utf-8").splitlines()
    first_row = next(i for i, line in enumerate(lines) if line.startswith("Ankle_boot/"))
    lines[first_row] = bad(lines[first_row])
    broken = tmp_path / "list.csv"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PhotoListError, match=f":{first_row + 1}: .*{message}"):
        read_photo_list(broken)
    assert assemble.main(["--out", str(tmp_path / "out"), "--list", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "out").exists()


# -- assembling from a loopback server ------------------------------------------------------------

@pytest.fixture
def sample(tmp_path):
    """Six photos (train and eval, both sources when ../shared is there), their bytes, the mirror
    folder a server serves them from ({repo}/{commit}/{path}) and a list file naming them."""
    if HAS_SHARED:
        listed = read_photo_list()
        train = [p for p in listed if p.set == "train"]
        evals = [p for p in listed if p.set == "eval"]
        photos = [*train[:2], train[-1], evals[0], next(p for p in evals if p.class_name == "Bag"),
                  evals[-1]]
        data = {p: ((SHARED_TRAIN if p.set == "train" else SHARED_EVAL) / p.path).read_bytes()
                for p in photos}
    else:
        rng = np.random.default_rng(0)
        photos, data = [], {}
        for i, (set_name, class_id) in enumerate([("train", 0), ("train", 1), ("train", 9),
                                                  ("eval", 0), ("eval", 8), ("eval", 3)]):
            content = rng.integers(0, 256, 3000 + 100 * i, dtype=np.uint8).tobytes()
            path = f"{class_folder(class_id)}/synthetic-{i}.jpg"
            photo = Photo(path=path, set=set_name,
                          fold=photo_fold(path) if set_name == "eval" else None,
                          class_id=class_id, source_repo="example/photos", source_commit="ab" * 20,
                          source_path=f"images/{i}/{i}.jpg",
                          sha256=hashlib.sha256(content).hexdigest(), label_origin="source",
                          license="CC0-1.0")
            photos.append(photo)
            data[photo] = content
    mirror = tmp_path / "mirror"
    for photo in photos:
        served = mirror / photo.source_repo / photo.source_commit / photo.source_path
        served.parent.mkdir(parents=True, exist_ok=True)
        served.write_bytes(data[photo])
    list_path = tmp_path / "photo_list.csv"
    list_path.write_text(format_photo_list(photos), encoding="utf-8")
    return {"photos": photos, "data": data, "mirror": mirror, "list": list_path,
            "out": tmp_path / "out"}


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]):
    """A loopback HTTP server in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mirror_server(sample):
    """Serves the sample's mirror folder; yields (base URL, the list of request paths)."""
    requests = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(sample["mirror"]), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    with serving(Handler) as url:
        yield url, requests


def run_cli(sample, *options):
    """``fashion-photos`` in-process on the sample's list; returns the exit status."""
    return assemble.main(["--out", str(sample["out"]), "--list", str(sample["list"]),
                                 *map(str, options)])


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_download_lands_verified_photos_where_the_tools_read_them_and_a_rerun_downloads_nothing(
        sample, mirror_server, capsys):
    url, requests = mirror_server
    photos, out = sample["photos"], sample["out"]
    assert run_cli(sample, "--base-url", url) == 0
    assert "6 photos: 0 present, 0 copied, 6 downloaded, 0 failed" in capsys.readouterr().out
    assert len(requests) == 6
    assert files_under(out) == sorted(out / p.set / p.path for p in photos)
    for photo in photos:
        assert (out / photo.set / photo.path).read_bytes() == sample["data"][photo]
    # fashion-evaluate sees the eval photos in the same classes and folds as the list says
    found = find_photos(out / "eval", FASHION_MNIST_LABELS)
    assert sorted((p.path.relative_to(out / "eval").as_posix(), p.class_id, p.fold)
                  for p in found) == sorted((p.path, p.class_id, p.fold)
                                            for p in photos if p.set == "eval")

    assert run_cli(sample, "--base-url", url) == 0
    assert "6 photos: 6 present, 0 copied, 0 downloaded, 0 failed" in capsys.readouterr().out
    assert len(requests) == 6  # nothing downloaded again

    assert run_cli(sample, "--base-url", url, "--set", "eval", "--out", sample["out"] / "x") == 0
    assert sorted(p.parent.parent.name for p in files_under(out / "x")) == ["eval"] * 3


def test_corrupted_and_missing_downloads_are_reported_and_the_rest_go_on(sample, mirror_server,
                                                                         capsys):
    url, requests = mirror_server
    photos, out = sample["photos"], sample["out"]
    corrupted, missing = photos[1], photos[4]
    served = sample["mirror"] / corrupted.source_repo / corrupted.source_commit / corrupted.source_path
    original = served.read_bytes()
    served.write_bytes(original[:100] + bytes([original[100] ^ 0xFF]) + original[101:])
    (sample["mirror"] / missing.source_repo / missing.source_commit / missing.source_path).unlink()

    assert run_cli(sample, "--base-url", url) == 1
    captured = capsys.readouterr()
    assert "6 photos: 0 present, 0 copied, 4 downloaded, 2 failed" in captured.out
    errors = captured.err.splitlines()
    assert len(errors) == 2
    bad_sha = hashlib.sha256(served.read_bytes()).hexdigest()
    assert any(line.startswith(f"fashion-photos: {corrupted.destination}: ") and
               f"sha256 {bad_sha}, expected {corrupted.sha256}" in line for line in errors)
    assert any(line.startswith(f"fashion-photos: {missing.destination}: ") and "HTTP 404" in line
               for line in errors)
    assert files_under(out) == sorted(out / p.set / p.path for p in photos
                                      if p not in (corrupted, missing))
    assert len(requests) == 6  # a 404 and a wrong sha256 are not retried


def test_from_dir_copies_locally_without_any_request(sample, mirror_server, tmp_path, capsys):
    url, requests = mirror_server
    photos, data = sample["photos"], sample["data"]
    by_path, assembled, loose = tmp_path / "by_path", tmp_path / "assembled", tmp_path / "loose"
    for photo in photos[:2]:  # a photo folder's layout: <class>/<file>
        (by_path / photo.path).parent.mkdir(parents=True, exist_ok=True)
        (by_path / photo.path).write_bytes(data[photo])
    for photo in photos[2:4]:  # an assembled folder's layout: <set>/<class>/<file>
        (assembled / photo.destination).parent.mkdir(parents=True, exist_ok=True)
        (assembled / photo.destination).write_bytes(data[photo])
    loose.mkdir()
    for i, photo in enumerate(photos[4:]):  # elsewhere under another name: found by sha256
        (loose / f"renamed-{i}.bin").write_bytes(data[photo])
    (loose / photos[0].path).parent.mkdir(parents=True)
    (loose / photos[0].path).write_bytes(b"not the photo")  # right name, wrong bytes: not used

    assert run_cli(sample, "--base-url", url, "--from-dir", loose, "--from-dir", by_path,
                   "--from-dir", assembled) == 0
    captured = capsys.readouterr()
    assert "6 photos: 0 present, 6 copied, 0 downloaded, 0 failed" in captured.out
    assert "indexing" in captured.err
    assert requests == []
    for photo in photos:
        assert (sample["out"] / photo.destination).read_bytes() == data[photo]


def test_no_download_fails_each_photo_not_found_locally(sample, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli(sample, "--from-dir", empty, "--no-download") == 1
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 1 + 6  # the index line, then one line per photo
    assert "--no-download" in captured.err
    assert "6 failed" in captured.out


def free_port_then_closed() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_closed_port_fails_fast_one_line_per_photo_then_the_rest_untried(sample, capsys):
    started = time.perf_counter()
    status = run_cli(sample, "--base-url", f"http://127.0.0.1:{free_port_then_closed()}",
                     "--workers", 1, "--retries", 1)
    assert time.perf_counter() - started < 5
    assert status == 1
    errors = capsys.readouterr().err.splitlines()
    tried = assemble.GIVE_UP_AFTER
    assert len(errors) == tried + 1
    assert all("refused" in line for line in errors[:tried])
    assert errors[-1].startswith(f"fashion-photos: {6 - tried} more photos not tried: ")
    assert files_under(sample["out"]) == []


def test_a_server_that_never_answers_times_out(sample, capsys):
    with socket.socket() as silent:  # accepts connections (in the backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        started = time.perf_counter()
        status = run_cli(sample, "--base-url", f"http://127.0.0.1:{silent.getsockname()[1]}",
                         "--timeout", 0.3, "--retries", 0, "--workers", 3)
        assert time.perf_counter() - started < 5
    assert status == 1
    errors = capsys.readouterr().err.splitlines()
    assert sum("timed out" in line for line in errors) >= assemble.GIVE_UP_AFTER
    assert files_under(sample["out"]) == []


def test_ctrl_c_mid_download_leaves_no_half_written_file(sample):
    """A server sends half a photo and stalls; Ctrl-C then exits 130 with nothing written."""
    got_request, release = threading.Event(), threading.Event()

    class Stalling(BaseHTTPRequestHandler):
        def do_GET(self):
            got_request.set()
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\xff" * 50000)
            self.wfile.flush()
            release.wait(10)

        def log_message(self, *args):
            pass

    with serving(Stalling) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "train.photo.assemble", "--out", str(sample["out"]),
             "--list", str(sample["list"]), "--base-url", url, "--workers", "1", "--timeout", "10"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            # As from a terminal: a shell's background job (a CI step run with &) starts its
            # children with SIGINT ignored, and Python then never raises KeyboardInterrupt.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            assert got_request.wait(15), "the download never started"
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            time.sleep(0.2)
            release.set()  # the download under way ends short
            _, err = process.communicate(timeout=15)
        finally:
            release.set()
            process.kill()
    assert process.returncode == 130, err
    assert "interrupted; finished photos are kept, rerun to resume" in err
    assert files_under(sample["out"]) == []


@pytest.mark.slow
@pytest.mark.photos
@needs_shared
def test_assembling_everything_from_shared_gives_the_same_folders(tmp_path, capsys):
    out = tmp_path / "photos"
    assert assemble.main(["--out", str(out), "--set", "clothing-dataset", "--from-dir",
                          str(SHARED_TRAIN), "--from-dir", str(SHARED_EVAL), "--no-download"]) == 0
    assert "3097 photos: 0 present, 3097 copied, 0 downloaded, 0 failed" in capsys.readouterr().out
    for assembled, shared in ((out / "train", SHARED_TRAIN), (out / "eval", SHARED_EVAL)):
        ours = find_photos(assembled, FASHION_MNIST_LABELS)
        theirs = find_photos(shared, FASHION_MNIST_LABELS)
        assert [(p.path.relative_to(assembled), p.class_id, p.fold) for p in ours] == \
               [(p.path.relative_to(shared), p.class_id, p.fold) for p in theirs]


def test_photo_records_give_raw_github_addresses():
    photo = replace(read_photo_list()[0], source_path="images/a b.jpg")
    assert photo.url("https://raw.githubusercontent.com/") == (
        f"https://raw.githubusercontent.com/{photo.source_repo}/{photo.source_commit}/images/a%20b.jpg")


def test_a_listed_crop_is_cut_from_the_checked_source_photo_and_kept_on_rerun(tmp_path, capsys):
    """A street photo's garment: the source file is checked against its sha256, the crop is cut
    from it and written as a PNG that training accepts; a PNG of another size is refused."""
    import cv2

    from edge_runtime.media.image_io import decode_image, encode_png, read_image
    from train.photo.views import PhotoFolderError, locate_photos

    rng = np.random.default_rng(3)
    street = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    source = cv2.imencode(".jpg", street)[1].tobytes()
    crop = (10, 20, 50, 70)  # x, y, width, height
    path = "Coat/000123.png"
    photo = Photo(path=path, set="street", fold=photo_fold(path), class_id=4,
                  source_repo="example/street", source_commit="cd" * 20,
                  source_path="images/000123.jpg", sha256=hashlib.sha256(source).hexdigest(),
                  label_origin="source", license="research only", crop=crop)
    listing = tmp_path / "list.csv"
    listing.write_text(format_photo_list([photo]), encoding="utf-8")
    assert read_photo_list(listing) == [photo]
    local = tmp_path / "checkout"
    (local / "images").mkdir(parents=True)
    (local / "images" / "000123.jpg").write_bytes(source)
    out = tmp_path / "out"
    options = ["--out", str(out), "--list", str(listing), "--from-dir", str(local),
               "--no-download"]

    assert assemble.main(options) == 0
    assert "1 photos: 0 present, 1 copied" in capsys.readouterr().out
    written = out / "street" / path
    x, y, width, height = crop
    expected = decode_image(source).pixels[y : y + height, x : x + width]
    assert np.array_equal(read_image(written).pixels, expected)
    assert assemble.main(options) == 0
    assert "1 photos: 1 present, 0 copied" in capsys.readouterr().out
    assert [p.path for p in locate_photos(out, [photo])] == [written]

    written.write_bytes(encode_png(expected[:-1]))  # not the listed crop any more
    with pytest.raises(PhotoFolderError, match=f"{written} differs, expected a 50x70 PNG"):
        locate_photos(out, [photo])
    assert assemble.main(options) == 0  # and fashion-photos cuts it again
    assert "1 photos: 0 present, 1 copied" in capsys.readouterr().out
    # A crop reaching outside its photo is that photo's one-line failure.
    outside = replace(photo, crop=(60, 20, 50, 70))
    listing.write_text(format_photo_list([outside]), encoding="utf-8")
    assert assemble.main([*options[:1], str(tmp_path / "out2"), *options[2:]]) == 1
    assert "crop 50x70+60+20 reaches outside the 90x120 photo" in capsys.readouterr().err


@pytest.mark.parametrize("field, value, message", [
    ("crop", (0, 0, 5, 5), "of a cropped photo, expected a .png"),
    ("set", "Street", "set 'Street', expected a name of lowercase letters"),
    ("fold", None, "fold None, expected"),
])
def test_a_malformed_source_row_is_refused(tmp_path, field, value, message):
    path = "Coat/1.jpg"
    photo = Photo(path=path, set="street", fold=photo_fold(path), class_id=4,
                  source_repo="example/street", source_commit="cd" * 20, source_path="1.jpg",
                  sha256="ab" * 32, label_origin="source", license="research only")
    listing = tmp_path / "list.csv"
    listing.write_text(format_photo_list([replace(photo, **{field: value})]), encoding="utf-8")
    with pytest.raises(PhotoListError, match=message):
        read_photo_list(listing)
