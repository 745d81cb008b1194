"""Every file accounted for: a folder of anything (images in every format a decoder here reads,
renamed, broken and cut files, files that are not images, a pipe) gives a record per image and a
counted skip per other file, the same whether the folder is scanned or its files are named; the
decoders' own messages stay off stderr (in the file's record instead), and so does the
runtime's XNNPACK line, unless --verbose.

Runs in every environment: where an encoder is absent (AVIF, HEIC) its sample is left out, with
the reason; where a decoder is absent (OpenCV < 4.11: GIF, AVIF; no heif extra: HEIC) the file
must be an error record that says what to install.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime import native_messages
from edge_runtime.apps.classify import main
from edge_runtime.apps.summary import Tally
from edge_runtime.media import decoders, formats, optional_decoders
from edge_runtime.media.image_io import decode_image
from tests.test_image_files import exif_segment
from tests.test_photos import synthetic_photo

ROOT = Path(__file__).resolve().parent.parent
HAS_HEIF = decoders.decoder_for(formats.HEIF) is not None
# A 1x1 GIF, as every web page's spacer: GIF bytes where nothing here encodes GIF.
TINY_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00"
            b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def encode(ext: str, pixels: np.ndarray, params: tuple = ()) -> bytes | None:
    """``pixels`` encoded by OpenCV as ``ext``, or None where this OpenCV cannot write it."""
    if not cv2.haveImageWriter(f"x{ext}"):
        return None
    try:
        ok, buffer = cv2.imencode(ext, pixels, list(params))
    except cv2.error:
        return None
    return buffer.tobytes() if ok else None


def heic(rgb: np.ndarray, orientation: int = 1) -> bytes:
    """HEIC bytes (pillow-heif's encoder) of RGB pixels, with an EXIF orientation."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "HEIF", exif=exif.tobytes(), quality=95)
    return out.getvalue()


def mpo(first: bytes, second: bytes) -> bytes:
    """A camera's multi-picture JPEG: the first picture with an APP2 MPF segment, the second
    appended (its index is not needed by decoders that read the first)."""
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 0) + struct.pack(">I", 0)
    segment = b"\xff\xe2" + struct.pack(">H", len(tiff) + 6) + b"MPF\x00" + tiff
    return first[:2] + segment + first[2:] + second


@pytest.fixture(scope="module")
def corpus(fashion, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder of files of every kind, and what each must become: ``image`` (a label of the
    PNG's), ``decoded`` (a record, any label: lossy palettes, gray), ``error`` or ``skipped``."""
    root = tmp_path_factory.mktemp("every_file") / "dump"
    (root / "sub").mkdir(parents=True)
    jpeg = synthetic_photo(fashion.test.images[1], "light", np.random.default_rng(1), centred=True)
    photo = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    png = encode(".png", photo)
    kinds: dict[str, str] = {}

    def put(name: str, data: bytes | None, kind: str) -> None:
        if data is not None:
            (root / name).write_bytes(data)
            kinds[name] = kind

    put("photo.png", png, "image")
    put("photo.jpg", jpeg, "image")
    for ext in (".bmp", ".tif", ".ppm", ".jp2", ".pam"):
        put(f"photo{ext}", encode(ext, photo), "image")
    put("photo.webp", encode(".webp", photo, (cv2.IMWRITE_WEBP_QUALITY, 101)), "image")  # lossless
    put("photo.avif", encode(".avif", photo, (cv2.IMWRITE_AVIF_QUALITY, 95)), "decoded")
    put("photo.gif", encode(".gif", photo) or TINY_GIF,
        "decoded" if decoders.decoder_for(formats.GIF) else "error")
    put("gray.pgm", encode(".pgm", cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)), "decoded")
    put("camera.mpo", mpo(jpeg, encode(".jpg", photo[:, ::-1])), "image")
    put("iphone.heic", heic(photo[:, :, ::-1]) if HAS_HEIF else None, "image")
    # Renamed: the content decides.
    put("sub/renamed.txt", png, "image")
    put("sub/IMG_0001", jpeg, "image")
    # Broken: error records.
    put("cut.jpg", jpeg[:2000], "error")
    put("empty.jpg", b"", "error")
    put("crc.png", png[:100] + bytes([png[100] ^ 0xFF]) + png[101:], "error")
    put("cut.tif", encode(".tif", photo)[:3000], "error")
    put("bomb.gif", b"GIF89a" + struct.pack("<HH", 20000, 20000) + TINY_GIF[10:], "error")
    put("fake.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200), "error")
    # Damaged but decodable: a record with the decoder's warning.
    put("padded.jpg", jpeg[:-2] + b"\x00" * 40 + b"\xff\xd9", "image")
    # Not images, whatever their names say.
    put("notes.txt", b"shopping list\n", "skipped")
    put("fake.png", b"just text, named like a picture\n" * 10, "skipped")
    put("._photo.jpg", b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(60), "skipped")
    put("clip.mp4", struct.pack(">I", 24) + b"ftypisom\x00\x00\x02\x00isomiso2" + bytes(500),
        "skipped")
    put("texture.dds", b"DDS |" + bytes(200), "skipped")
    put("favicon.ico", b"\x00\x00\x01\x00\x01\x00" + bytes(100), "skipped")
    put(".gitkeep", b"", "skipped")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("photo.png", png)
    put("sub/photos.zip", archive.getvalue(), "skipped")
    os.mkfifo(root / "sub" / "pipe.jpg")  # never opened: reading it would wait for ever
    kinds["sub/pipe.jpg"] = "skipped"
    return root, kinds


def run(capsys, args: list[str]) -> tuple[int, dict[str, dict], list[str]]:
    """``fashion-classify``'s status, records by path relative to nothing, and stderr lines."""
    status = main(args)
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return status, {r["path"]: r for r in records}, captured.err.splitlines()


def test_every_file_is_a_record_or_a_counted_skip_whether_scanned_or_named(corpus, capsys):
    root, kinds = corpus
    status, scanned, err = run(capsys, [str(root), "--all-files"])
    assert status == 1  # the broken files
    assert sorted(scanned) == sorted(str(root / name) for name in kinds)
    for name, kind in kinds.items():
        record = scanned[str(root / name)]
        if kind == "skipped":
            assert set(record) == {"path", "skipped"}, record
        elif kind == "error":
            assert set(record) == {"path", "error"} and name in record["error"], record
            assert "\n" not in record["error"]
        else:
            assert "error" not in record and "skipped" not in record, record
    png = scanned[str(root / "photo.png")]["label"]
    assert png == "Pullover"
    for name in (n for n, kind in kinds.items() if kind == "image"):
        assert scanned[str(root / name)]["label"] == png, scanned[str(root / name)]
    assert scanned[str(root / "sub" / "pipe.jpg")]["skipped"] == "not a regular file"
    # Named one by one (the pipe as found in its folder), each file gets the same record.
    named = [str(root / name) for name in kinds if name != "sub/pipe.jpg"]
    assert run(capsys, [*named, "--all-files"])[1] == {
        path: record for path, record in scanned.items() if not path.endswith("pipe.jpg")}
    tally = Tally()
    for record in scanned.values():
        tally.add(record)
    assert err == [f"fashion-classify: {tally.line()}"]
    assert tally.files == len(kinds)
    assert tally.skipped.total() == sum(kind == "skipped" for kind in kinds.values())


def test_without_all_files_the_skips_are_only_counted(corpus, capsys):
    root, kinds = corpus
    status, records, err = run(capsys, [str(root)])
    assert status == 1 and not [r for r in records.values() if "skipped" in r]
    skipped = sum(kind == "skipped" for kind in kinds.values())
    errors = sum(kind == "error" for kind in kinds.values())
    assert len(records) == len(kinds) - skipped
    assert len(err) == 1 and err[0].startswith(
        f"fashion-classify: {len(kinds)} files: {len(kinds) - skipped - errors} classified, "
        f"{errors} unreadable, {skipped} not images (")
    assert ".jpg 2" in err[0] and "no suffix 1" in err[0] and "Traceback" not in err[0]


def test_strict_makes_a_file_that_is_not_an_image_a_failure(corpus, capsys):
    root, _ = corpus
    files = [str(root / "photo.png"), str(root / "notes.txt")]
    assert run(capsys, files)[0] == 0
    status, records, err = run(capsys, [*files, "--strict"])
    assert status == 1 and list(records) == [files[0]]
    assert err == ["fashion-classify: 2 files: 1 classified, 0 unreadable, 1 not an image (.txt 1)"]


def test_what_the_errors_say(corpus, capsys):
    root, kinds = corpus
    _, records, _ = run(capsys, [str(root)])
    error = {name: records.get(str(root / name), {}).get("error", "") for name in kinds}
    assert "empty file" in error["empty.jpg"]
    assert "truncated JPEG" in error["cut.jpg"]
    assert "PNG" in error["crc.png"] and "CRC" in error["crc.png"]  # libpng's own words
    assert "TIFF" in error["cut.tif"]
    assert "20000x20000" in error["bomb.gif"] or "GIF decoder" in error["bomb.gif"]
    if not HAS_HEIF:
        assert 'pip install "fashion-edge[heif]"' in error["fake.heic"]
    if decoders.decoder_for(formats.GIF) is None:
        assert 'no GIF decoder; pip install "fashion-edge[heif]"' in error["photo.gif"]
    assert "Corrupt JPEG data" in records[str(root / "padded.jpg")]["warning"]


def test_text_and_csv_show_skips_and_warnings(corpus, capsys):
    root, _ = corpus
    files = [str(root / "notes.txt"), str(root / "padded.jpg")]
    assert main([*files, "--all-files", "--format", "text"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{files[0]}: skipped: not an image"
    assert lines[1].startswith(f"{files[1]}: Pullover ") and "[warning: Corrupt JPEG data" in lines[1]
    assert main([*files, "--all-files", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[1] == f"{files[0]},,,,,,,,not an image" and ",Corrupt JPEG data" in rows[2]


def test_verbose_lets_the_decoders_messages_through(corpus, capfd):
    root, _ = corpus
    padded = str(root / "padded.jpg")
    assert main([padded]) == 0
    out, err = capfd.readouterr()
    assert "Corrupt JPEG data" in json.loads(out)["warning"] and "Corrupt" not in err
    try:
        assert main([padded, "--verbose"]) == 0
    finally:
        native_messages.set_verbose(False)
    out, err = capfd.readouterr()
    assert "warning" not in json.loads(out) and "Corrupt JPEG data" in err


def test_stderr_holds_only_the_summary_from_a_fresh_process(corpus, tmp_path):
    """The XNNPACK line comes once per process, from the runtime itself (LiteRT, or the
    delegate made for tflite-runtime 2.14): only a new process shows it, or keeps it off."""
    root, _ = corpus
    code = "import sys\nfrom edge_runtime.apps.classify import main\nsys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, str(root), "--output", str(tmp_path / "out.jsonl")]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    quiet = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 1
    lines = quiet.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fashion-classify: "), quiet.stderr
    verbose = subprocess.run([*args, "--verbose"], capture_output=True, text=True, timeout=300,
                             env=env)
    assert "XNNPACK delegate" in verbose.stderr and "Corrupt JPEG data" in verbose.stderr


# ---------------------------------------------------------------- HEIC, and Pillow's decoders

@pytest.mark.skipif(not HAS_HEIF, reason='pillow-heif absent (pip install "fashion-edge[heif]")')
def test_an_iphone_heic_is_read_upright_as_its_jpeg(fashion, tmp_path, capsys):
    """A phone stores the sensor's pixels and the turn: the HEIC must reach the model the same
    way up as the JPEG of the same shot, with or without the turn."""
    jpeg = synthetic_photo(fashion.test.images[1], "light", np.random.default_rng(1), centred=True)
    upright = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)  # orientation 6 undoes this
    sideways = heic(stored[:, :, ::-1], orientation=6)
    assert formats.sniff(sideways) is formats.HEIF
    pixels = decode_image(sideways).pixels
    assert pixels.shape == upright.shape
    assert np.abs(pixels.astype(int) - upright).mean() < 6
    (tmp_path / "IMG_0001.HEIC").write_bytes(sideways)
    (tmp_path / "IMG_0001.JPG").write_bytes(jpeg[:2] + exif_segment(1) + jpeg[2:])
    assert main([str(tmp_path)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in records] == ["Pullover", "Pullover"]


def test_without_the_heif_extra_a_heic_names_the_extra(monkeypatch, corpus, capsys):
    root, kinds = corpus
    if "iphone.heic" not in kinds:
        pytest.skip("no HEIC sample: pillow-heif absent (test_what_the_errors_say covers it)")
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import pillow_heif now fails
    decoders.decoder_for.cache_clear()
    try:
        status, records, _ = run(capsys, [str(root / "iphone.heic")])
    finally:
        decoders.decoder_for.cache_clear()
    assert status == 1
    assert records[str(root / "iphone.heic")]["error"].endswith(
        'HEIC/HEIF photos need the heif extra: pip install "fashion-edge[heif]"')


def test_pillow_reads_gif_and_avif_where_opencv_cannot(monkeypatch, corpus):
    """OpenCV < 4.11 (numpy 1's) has no GIF or AVIF decoder: Pillow, from the heif extra,
    takes over and gives the same pixels."""
    pytest.importorskip("PIL", reason='Pillow absent (pip install "fashion-edge[heif]")')
    root, kinds = corpus
    samples = [root / name for name in ("photo.gif", "photo.avif") if name in kinds]
    opencv = {path: decode_image(path.read_bytes()) for path in samples
              if decoders.decoder_for(formats.sniff(path.read_bytes())) == "opencv"}
    monkeypatch.setattr(decoders, "_missing_opencv_codecs", lambda: frozenset({"GIF", "AVIF"}))
    decoders.decoder_for.cache_clear()
    try:
        for path in samples:
            kind = formats.sniff(path.read_bytes())
            if not optional_decoders.pillow_decodes(kind):
                continue  # an older Pillow, without AVIF
            assert decoders.decoder_for(kind) == "pillow"
            pixels = decode_image(path.read_bytes()).pixels
            if path in opencv:
                assert pixels.shape == opencv[path].pixels.shape
                assert np.abs(pixels.astype(int) - opencv[path].pixels).mean() < 3, path.name
    finally:
        decoders.decoder_for.cache_clear()


# ---------------------------------------------------------------- the rule, and uploads

def test_the_rule_goes_by_content_and_uploads_follow_it(corpus):
    from edge_runtime.apps.serve.security import UploadRefused, sniff

    root, kinds = corpus
    for name, kind in kinds.items():
        if name == "sub/pipe.jpg":
            continue
        data = (root / name).read_bytes()
        if kind == "skipped":
            assert formats.sniff(data) is None, name
            with pytest.raises(UploadRefused) as refused:
                sniff(data, name)
            assert refused.value.status == (400 if not data else 415), name
        elif name != "empty.jpg":
            assert formats.sniff(data) is not None, name
            assert sniff(data, name) == formats.sniff(data).name
    assert formats.sniff(b"BM, the start of a note\n") is None  # "BM" alone is no BMP
    avif_brands = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"
    assert formats.sniff(avif_brands) is formats.AVIF


def test_the_summary_line():
    tally = Tally()
    for path in ["a.jpg", "b.png", "c.fli", "d.fli", "e.dds", "f", "g.x1", "h.x2", "i.x3", "j.x4"]:
        tally.add({"path": path, "skipped": "not an image"})
    tally.add({"path": "k.jpg", "error": "k.jpg: empty file"})
    tally.add({"path": "l.jpg", "label": "Bag"})
    assert tally.line() == ("12 files: 1 classified, 1 unreadable, 10 not images (.fli 2, .jpg 1, "
                            ".png 1, .dds 1, no suffix 1, .x1 1, ...)")
    assert tally.failed() and not Tally(classified=3).failed(strict=True)
