"""Classify a list of files, one record each; a bad file becomes an error record, never a stop."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import count
from pathlib import Path

from edge_runtime.classifier import Classifier
from edge_runtime.media import imaging
from edge_runtime.media.atomic_files import write_bytes_atomic
from edge_runtime.media.inputs import InputItem
from edge_runtime.photo.preprocess import PreparedInput


def save_prepared(directory: Path, index: int, source: Path, prepared: PreparedInput) -> None:
    """Write the model input (and the garment mask, if any) as PNG for inspection, each file
    atomically."""
    stem = f"{index:05d}_{source.stem}"
    pixels = prepared.pixels[:, :, ::-1] if prepared.pixels.ndim == 3 else prepared.pixels  # RGB
    write_bytes_atomic(directory / f"{stem}.png", imaging.encode_png(pixels))
    if prepared.mask is not None:
        mask = prepared.mask.astype("uint8") * 255
        write_bytes_atomic(directory / f"{stem}_mask.png", imaging.encode_png(mask))


def classify_files(
    classifier: Classifier, items: Iterable[InputItem], save_dir: Path | None = None,
    numbers: Sequence[int] | None = None,
) -> Iterator[dict]:
    """Yield one record per item: ``{path, label, class_id, score, top_k}`` (and ``reason``
    when there is no label) or ``{path, error}``. ``numbers`` number the inputs saved in
    ``save_dir`` (default: the position in ``items``)."""
    # Photos need only a small copy: let the decoder shrink large JPEGs while decoding.
    min_side = None if classifier.preprocess == "fmnist" else classifier.photo_decode_side
    for index, item in zip(numbers or count(), items):
        if item.error:
            yield {"path": str(item.path), "error": item.error}
            continue
        try:
            prepared = classifier.prepare(imaging.read_image(item.path, min_side))
            prediction = classifier.predict(prepared)
            if save_dir is not None:
                save_prepared(save_dir, index, item.path, prepared)
        except imaging.ImageDecodeError as exc:
            yield {"path": str(item.path), "error": str(exc)}
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop the batch
            detail = " ".join(str(exc).split())
            yield {"path": str(item.path), "error": f"{item.path}: {type(exc).__name__}: {detail}"}
            continue
        yield {"path": str(item.path), **prediction.as_dict()}
