"""Classify a list of files, one record each; a bad file becomes an error record, never a stop."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import count
from pathlib import Path

from edge_runtime.classifier import Classifier
from edge_runtime.media import image_io
from edge_runtime.media.atomic_files import write_bytes_atomic
from edge_runtime.media.formats import NotAnImageError
from edge_runtime.media.inputs import InputItem
from edge_runtime.photo.preprocess import PreparedInput

NOT_AN_IMAGE = "not an image"


def save_prepared(directory: Path, index: int, source: Path, prepared: PreparedInput) -> None:
    """Write the model input (and the garment mask, if any) as PNG for inspection, each file
    atomically."""
    stem = f"{index:05d}_{source.stem}"
    pixels = prepared.pixels[:, :, ::-1] if prepared.pixels.ndim == 3 else prepared.pixels  # RGB
    write_bytes_atomic(directory / f"{stem}.png", image_io.encode_png(pixels))
    if prepared.mask is not None:
        mask = prepared.mask.astype("uint8") * 255
        write_bytes_atomic(directory / f"{stem}_mask.png", image_io.encode_png(mask))


def decode_side(classifier: Classifier) -> int | None:
    """The least short side image files are decoded at for ``classifier`` (None: full size)."""
    # Photos need only a small copy: let the decoder shrink large JPEGs while decoding.
    return None if classifier.options.preprocess == "fmnist" else classifier.photo_decode_side


def file_record(classifier: Classifier, path: str | Path, min_side: int | None,
                data: bytes | None = None,
                on_prepared: Callable[[PreparedInput], None] | None = None) -> dict:
    """The record of one file: ``{path, label, class_id, score, top_k}`` (and ``reason`` when
    there is no label, ``warning`` when the decoder complained of a file it still decoded),
    ``{path, error}``, or ``{path, skipped: "not an image"}`` for content of no image format
    (:mod:`edge_runtime.media.formats`); never raises for a bad file. The file's bytes
    are ``data`` when given (read elsewhere, e.g. from object storage), else read from ``path``;
    they are decoded with :func:`~edge_runtime.media.image_io.decode_image` at ``min_side``
    (:func:`decode_side`). ``on_prepared`` sees the model input of a classified file."""
    try:
        image = (image_io.read_image(path, min_side) if data is None
                 else image_io.decode_image(data, str(path), min_side))
        prepared = classifier.prepare(image)
        prediction = classifier.predict(prepared)
        if on_prepared is not None:
            on_prepared(prepared)
    except NotAnImageError:
        return {"path": str(path), "skipped": NOT_AN_IMAGE}
    except image_io.ImageDecodeError as exc:
        return {"path": str(path), "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop the batch
        detail = " ".join(str(exc).split())
        return {"path": str(path), "error": f"{path}: {type(exc).__name__}: {detail}"}
    record = {"path": str(path), **prediction.as_dict()}
    if image.warning:
        record["warning"] = image.warning
    return record


def classify_files(
    classifier: Classifier, items: Iterable[InputItem], save_dir: Path | None = None,
    numbers: Sequence[int] | None = None,
) -> Iterator[dict]:
    """Yield one record per item (:func:`file_record`; an item's own ``error`` or ``skipped``
    as ``{path, error}`` or ``{path, skipped}``). ``numbers`` number the inputs saved in
    ``save_dir`` (default: the position in ``items``)."""
    min_side = decode_side(classifier)
    for index, item in zip(numbers or count(), items):
        if item.error or item.skipped:
            yield {"path": str(item.path),
                   **({"error": item.error} if item.error else {"skipped": item.skipped})}
            continue
        save = None if save_dir is None else partial(save_prepared, save_dir, index, item.path)
        yield file_record(classifier, item.path, min_side, on_prepared=save)
