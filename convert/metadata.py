"""Standard TFLite image-classifier metadata, so MediaPipe Tasks' ``ImageClassifier`` (and the
TFLite Task Library) load a model unchanged: labels, input image description, author, licence.

The writer is tflite-support's, which needs protobuf < 4 while TensorFlow 2.21 needs >= 6.31, so
it lives in its own environment, ``.venv-metadata`` (``scripts/setup_extra_envs.sh``). This file
is both sides: the caller (any environment; standard library only) hands the model and a JSON
request to this same file run as a script by that environment's Python, the worker, which is the
only code that imports tflite_support. Run by path, the worker needs neither the project installed
there nor the repository as working directory.

Metadata only adds a buffer and a zip of associated files to the flatbuffer; the graph, and so
every interpreter's output, is unchanged. Adding it changes the file's sha256, so a manifest
must be built from the bytes this returns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_METADATA_PYTHON = Path(__file__).resolve().parent.parent / ".venv-metadata" / "bin" / "python"
LABEL_FILE = "labels.txt"
_WORKER_TIMEOUT_S = 120
_EXIT_BAD_MODEL = 3  # not argparse's usage status, 2
# The date stamped on the packed labels file (zip's earliest): tflite-support stamps the current
# time, so the same model and labels would give new bytes on every conversion.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class MetadataToolError(RuntimeError):
    """The metadata environment is missing or its worker failed for a reason other than the model."""


@dataclass(frozen=True)
class ImageClassifierInfo:
    """What the metadata says about an image classifier.

    ``normalization`` is ``(mean, std)``, one value or one per RGB channel, as MediaPipe applies
    ``(pixel - mean) / std`` to a float32 input; ``None`` says the model takes raw uint8 0-255 RGB
    pixels and normalises inside (then its uint8 input must have scale 1, zero point 0, because
    MediaPipe feeds a uint8 input the raw pixels whatever the metadata says).
    """

    name: str
    description: str
    labels: tuple[str, ...]
    input_description: str
    output_description: str = "Probabilities of the labels (softmax inside the model)."
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    version: str | None = None
    author: str | None = None
    license: str | None = None


def _check_info(info: ImageClassifierInfo) -> None:
    if not info.labels:
        raise ValueError("metadata: no labels given, expected one per output class")
    bad = [label for label in info.labels if not label.strip() or "\n" in label or "\r" in label]
    if bad:
        raise ValueError(f"metadata: labels must be non-empty single lines, got {bad!r}")
    if info.normalization is not None:
        mean, std = info.normalization
        if len(mean) != len(std) or len(mean) not in (1, 3):
            raise ValueError(f"metadata: normalization needs 1 or 3 means and as many stds, got "
                             f"{len(mean)} and {len(std)}")
        if any(s == 0 for s in std):
            raise ValueError(f"metadata: normalization std must be non-zero, got {list(std)}")
        if len(set(mean)) > 1 or len(set(std)) > 1:
            raise ValueError(f"metadata: MediaPipe takes one mean and std for all channels, got "
                             f"mean {list(mean)}, std {list(std)}")


def _run_worker(python: Path | None, args: list[str]) -> subprocess.CompletedProcess:
    python = Path(python or DEFAULT_METADATA_PYTHON)
    if not python.is_file():
        raise MetadataToolError(f"{python}: no metadata environment (tflite-support); make it with "
                                "scripts/setup_extra_envs.sh")
    # -I: the worker sees neither the caller's PYTHON* variables nor this file's folder on sys.path
    try:
        done = subprocess.run([str(python), "-I", str(Path(__file__).resolve()), *args],
                              capture_output=True, timeout=_WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise MetadataToolError(f"{python}: metadata worker still running after "
                                f"{_WORKER_TIMEOUT_S} s") from None
    if done.returncode != 0:
        message = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        error = ValueError if done.returncode == _EXIT_BAD_MODEL else MetadataToolError
        raise error(message)
    return done


def add_image_classifier_metadata(model: bytes, info: ImageClassifierInfo,
                                  python: Path | None = None) -> bytes:
    """``model`` with image-classifier metadata: ``info``, the labels as the TENSOR_AXIS_LABELS file
    ``labels.txt`` of the output, RGB colour space.

    Raises ValueError when the model is not an image classifier MediaPipe can run (one input
    [1, H, W, 3] uint8 or float32, one output [1, N] uint8 or float32 with N = number of labels),
    when ``info`` contradicts it, or when the model has metadata already (add it to the model as
    converted); MetadataToolError when the metadata environment (``python``, default
    ``.venv-metadata``) is missing or fails.
    """
    _check_info(info)
    with tempfile.TemporaryDirectory(prefix="metadata-") as tmp:
        source, request, target = Path(tmp, "in.tflite"), Path(tmp, "request.json"), Path(tmp, "out.tflite")
        source.write_bytes(model)
        request.write_text(json.dumps(asdict(info)), encoding="utf-8")
        _run_worker(python, ["write", str(request), str(source), str(target)])
        return target.read_bytes()


def read_metadata(model: bytes, python: Path | None = None) -> dict:
    """The metadata of ``model`` as tflite-support's MetadataDisplayer reads it back:
    ``{"metadata": <the metadata as JSON>, "associated_files": {name: text}}``.

    Raises ValueError for a model without metadata, MetadataToolError as above.
    """
    with tempfile.TemporaryDirectory(prefix="metadata-") as tmp:
        source = Path(tmp, "model.tflite")
        source.write_bytes(model)
        done = _run_worker(python, ["read", str(source)])
    return json.loads(done.stdout)


# The worker: runs in the metadata environment, imports tflite_support.

class _BadModel(ValueError):
    """The model or the request cannot be given image-classifier metadata (exit status 3)."""


def _tensor_facts(tensor, schema_fb) -> dict:
    type_names = {v: k for k, v in vars(schema_fb.TensorType).items() if not k.startswith("_")}
    quantization = tensor.Quantization()
    scale = quantization.Scale(0) if quantization and quantization.ScaleLength() else 0.0
    zero_point = quantization.ZeroPoint(0) if quantization and quantization.ZeroPointLength() else 0
    return {"type": tensor.Type(), "type_name": type_names.get(tensor.Type(), str(tensor.Type())),
            "shape": [int(tensor.Shape(i)) for i in range(tensor.ShapeLength())],
            "scale": float(scale), "zero_point": int(zero_point)}


def _check_model(model: bytes, request: dict, schema_fb) -> tuple[dict, dict]:
    """The input and output tensor facts, once they fit what MediaPipe's ImageClassifier runs."""
    if len(model) < 8 or not schema_fb.Model.ModelBufferHasIdentifier(model, 0):
        raise _BadModel(f"not a TFLite model (file identifier {model[4:8]!r}, expected b'TFL3')")
    tflite_model = schema_fb.Model.GetRootAsModel(model, 0)
    names = [tflite_model.Metadata(i).Name() for i in range(tflite_model.MetadataLength())]
    if b"TFLITE_METADATA" in names:
        # tflite-support would keep the old associated files and refuse the new labels.txt.
        raise _BadModel("model already has TFLite metadata; add metadata to the model as converted")
    if tflite_model.SubgraphsLength() != 1:
        raise _BadModel(f"model has {tflite_model.SubgraphsLength()} subgraphs, expected 1")
    graph = tflite_model.Subgraphs(0)
    if graph.InputsLength() != 1 or graph.OutputsLength() != 1:
        raise _BadModel(f"model has {graph.InputsLength()} inputs and {graph.OutputsLength()} "
                        "outputs, expected one image in and one score vector out")
    inp = _tensor_facts(graph.Tensors(graph.Inputs(0)), schema_fb)
    out = _tensor_facts(graph.Tensors(graph.Outputs(0)), schema_fb)
    image_types = (schema_fb.TensorType.UINT8, schema_fb.TensorType.FLOAT32)
    if len(inp["shape"]) != 4 or inp["shape"][0] != 1 or inp["shape"][3] != 3 \
            or inp["type"] not in image_types:
        raise _BadModel(f"model input is {inp['type_name']} {inp['shape']}, expected an RGB image "
                        "[1, H, W, 3] of UINT8 or FLOAT32 (MediaPipe refuses anything else)")
    n_labels = len(request["labels"])
    if len(out["shape"]) != 2 or out["shape"][0] != 1 or out["type"] not in image_types:
        raise _BadModel(f"model output is {out['type_name']} {out['shape']}, expected scores "
                        f"[1, {n_labels}] of UINT8 or FLOAT32")
    if out["shape"][1] != n_labels:
        raise _BadModel(f"model output has {out['shape'][1]} classes, {n_labels} labels given")
    if request["normalization"] is None:
        if inp["type"] == schema_fb.TensorType.FLOAT32:
            raise _BadModel("model input is FLOAT32: MediaPipe needs normalization mean/std for it, "
                            "none given")
        if (inp["scale"], inp["zero_point"]) != (1.0, 0):
            raise _BadModel(f"model input quantization is scale {inp['scale']}, zero point "
                            f"{inp['zero_point']}; raw 0-255 pixels (no normalization given) need "
                            "scale 1.0, zero point 0, since MediaPipe feeds a uint8 input raw pixels")
    return inp, out


def _fix_zip_dates() -> None:
    """Make the worker's zip entries carry ``_ZIP_DATE`` instead of the time of writing (the
    worker is a process of its own: nothing else sees this), so a rebuild of the same model
    gives the same file and leaves git clean."""
    import zipfile

    writestr = zipfile.ZipFile.writestr

    def dated_writestr(self, name, data, *args, **kwargs):
        if isinstance(name, str):  # what writestr makes of a name, dated _ZIP_DATE
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type, info.external_attr = self.compression, 0o600 << 16
            name = info
        return writestr(self, name, data, *args, **kwargs)

    zipfile.ZipFile.writestr = dated_writestr


def _write(request_path: Path, source: Path, target: Path) -> None:
    from tensorflow_lite_support.metadata import metadata_schema_py_generated as metadata_fb
    from tensorflow_lite_support.metadata import schema_py_generated as schema_fb
    from tflite_support import metadata as _metadata
    from tflite_support.metadata_writers import image_classifier, metadata_info

    _fix_zip_dates()
    request = json.loads(request_path.read_text(encoding="utf-8"))
    model = source.read_bytes()
    inp, out = _check_model(model, request, schema_fb)
    mean, std = request["normalization"] or (None, None)
    with tempfile.TemporaryDirectory() as tmp:
        labels_path = Path(tmp, LABEL_FILE)
        labels_path.write_text("\n".join(request["labels"]) + "\n", encoding="utf-8")
        writer = image_classifier.MetadataWriter.create_from_metadata_info(
            model_buffer=bytearray(model),
            general_md=metadata_info.GeneralMd(
                name=request["name"], version=request["version"], description=request["description"],
                author=request["author"], licenses=request["license"]),
            input_md=metadata_info.InputImageTensorMd(
                name="image", description=request["input_description"],
                norm_mean=list(mean) if mean else None, norm_std=list(std) if std else None,
                color_space_type=metadata_fb.ColorSpaceType.RGB, tensor_type=inp["type"]),
            output_md=metadata_info.ClassificationTensorMd(
                name="probability", description=request["output_description"],
                label_files=[metadata_info.LabelFileMd(file_path=str(labels_path))],
                tensor_type=out["type"]),
        )
        populated = bytes(writer.populate())
    # Read it back before handing it over: the labels must come out as they went in.
    displayer = _metadata.MetadataDisplayer.with_model_buffer(populated)
    packed = displayer.get_packed_associated_file_list()
    labels_back = displayer.get_associated_file_buffer(LABEL_FILE).decode("utf-8").splitlines()
    if packed != [LABEL_FILE] or labels_back != list(request["labels"]):
        raise RuntimeError(f"metadata read back wrong: files {packed}, labels {labels_back}")
    partial = target.with_name(f".{target.name}.tmp")
    try:
        partial.write_bytes(populated)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _read(source: Path) -> dict:
    from tflite_support import metadata as _metadata

    try:
        displayer = _metadata.MetadataDisplayer.with_model_file(str(source))
    except ValueError as exc:  # "The model does not have metadata."
        raise _BadModel(str(exc)) from None
    return {"metadata": json.loads(displayer.get_metadata_json()),
            "associated_files": {name: displayer.get_associated_file_buffer(name).decode("utf-8")
                                 for name in displayer.get_packed_associated_file_list()}}


def main(argv: list[str] | None = None) -> int:
    """The worker, run by the metadata environment's Python: ``write REQUEST.json IN OUT`` or
    ``read MODEL`` (prints the metadata and associated files as JSON)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="convert/metadata.py",
        description="Write or read TFLite image-classifier metadata (needs tflite-support).")
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="add metadata described by REQUEST to IN, save as OUT")
    write.add_argument("request", type=Path)
    write.add_argument("source", type=Path, metavar="IN")
    write.add_argument("target", type=Path, metavar="OUT")
    read = commands.add_parser("read", help="print the metadata of MODEL as JSON")
    read.add_argument("model", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "write":
            _write(args.request, args.source, args.target)
        else:
            print(json.dumps(_read(args.model)))
    except _BadModel as exc:
        print(f"metadata: error: {exc}", file=sys.stderr)
        return _EXIT_BAD_MODEL
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        print(f"metadata: error: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
