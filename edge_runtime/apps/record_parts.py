"""The output directory of a catalogue run: ``fashion-classify``'s records in part files, JSON Lines
or Parquet, each written whole or not at all, and the paths they already hold (to resume).

A part file appears under its final name only when complete (written under a hidden temporary
name, then renamed), so a run that dies leaves finished parts and no half ones, and a re-run can
trust every part it finds. Needs pyarrow (the ``ray`` extra), imported where it is used so that
the device runtime imports without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone

FORMATS = ("jsonl", "parquet")
PART_PREFIX = "part-"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(path: str) -> bool:
    """True for ``scheme://...`` (s3://, gs://, file://...), False for a local path."""
    return bool(_URI.match(path))


def record_schema():
    """``fashion-classify``'s record as Parquet columns (a ``pyarrow.Schema``): a file's record
    has no ``error``, an error record only ``path`` and ``error``, a skipped file's (with
    ``--all-files``) only ``path`` and ``skipped``; the columns a record lacks are null."""
    import pyarrow as pa

    candidate = pa.struct([("label", pa.string()), ("class_id", pa.int64()),
                           ("score", pa.float64())])
    return pa.schema([("path", pa.string()), ("label", pa.string()), ("class_id", pa.int64()),
                      ("score", pa.float64()), ("top_k", pa.list_(candidate)),
                      ("reason", pa.string()), ("error", pa.string()),
                      ("warning", pa.string()), ("skipped", pa.string())])


def open_directory(location: str):
    """The ``pyarrow.fs`` filesystem and path of an output directory: a local path (made
    absolute, so that workers in other directories write to the same place) or a URI."""
    import pyarrow.fs as pafs

    if is_uri(location):
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), os.path.abspath(location)


def new_run_id() -> str:
    """A name for one run's parts: its UTC start time and a random suffix, never reused."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def part_name(run_id: str, key: str, fmt: str) -> str:
    """The file name of the part ``key`` (e.g. a digest of its paths) of run ``run_id``."""
    return f"{PART_PREFIX}{run_id}-{key}.{fmt}"


def encode_part(lines: Sequence[str], fmt: str) -> bytes:
    """A part file's contents from records given as JSON lines (``fashion-classify``'s own
    lines): the lines themselves, or a Parquet table of them in :func:`record_schema`."""
    if fmt == "jsonl":
        return "".join(line + "\n" for line in lines).encode("utf-8")
    if fmt != "parquet":
        raise ValueError(f"format {fmt!r}, expected one of {FORMATS}")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([json.loads(line) for line in lines], schema=record_schema())
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def write_part(filesystem, directory: str, name: str, data: bytes) -> None:
    """Write one part file into an existing ``directory`` atomically: under a hidden temporary
    name, then renamed (readers of the directory, Ray's and pyarrow's included, skip names that
    start with a dot)."""
    final = f"{directory.rstrip('/')}/{name}"
    temporary = f"{directory.rstrip('/')}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with filesystem.open_output_stream(temporary) as stream:
            stream.write(data)
        filesystem.move(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):  # never made, or already gone
            filesystem.delete_file(temporary)
        raise


def part_files(filesystem, directory: str) -> dict[str, list[str]]:
    """The finished part files in ``directory``, by format (none when it does not exist).
    ValueError when ``directory`` is a file."""
    import pyarrow.fs as pafs

    parts: dict[str, list[str]] = {fmt: [] for fmt in FORMATS}
    kind = filesystem.get_file_info(directory).type
    if kind == pafs.FileType.NotFound:
        return parts
    if kind != pafs.FileType.Directory:
        raise ValueError(f"{directory} is a file, expected an output directory")
    for info in filesystem.get_file_info(pafs.FileSelector(directory)):
        suffix = info.base_name.rsplit(".", 1)[-1]
        if info.is_file and info.base_name.startswith(PART_PREFIX) and suffix in parts:
            parts[suffix].append(info.path)
    return {fmt: sorted(paths) for fmt, paths in parts.items()}


def recorded_paths(filesystem, directory: str, fmt: str) -> set[str]:
    """The ``path`` of every record already in ``directory``'s parts: what a re-run skips.

    ValueError when the directory holds parts of the other format: one output directory keeps
    one format, so that whoever reads it reads every record."""
    parts = part_files(filesystem, directory)
    others = [other for other in FORMATS if other != fmt and parts[other]]
    if others:
        raise ValueError(f"{directory} holds {others[0]} parts ({len(parts[others[0]])}), "
                         f"expected {fmt}: resume with --format {others[0]} or use another output")
    paths: set[str] = set()
    for part in parts[fmt]:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with filesystem.open_input_file(part) as stream:
                paths.update(pq.read_table(stream, columns=["path"]).column("path").to_pylist())
        else:
            with filesystem.open_input_stream(part) as stream:
                text = stream.read().decode("utf-8")
            paths.update(json.loads(line)["path"] for line in text.splitlines() if line)
    return paths


def read_records(location: str) -> list[dict]:
    """Every record in an output directory, as written: JSON Lines records as
    ``fashion-classify`` writes them, Parquet rows in :func:`record_schema` (nulls included)."""
    import pyarrow.parquet as pq

    filesystem, directory = open_directory(location)
    records: list[dict] = []
    parts = part_files(filesystem, directory)
    for part in parts["parquet"]:
        with filesystem.open_input_file(part) as stream:
            records += pq.read_table(stream).to_pylist()
    for part in parts["jsonl"]:
        with filesystem.open_input_stream(part) as stream:
            records += [json.loads(line) for line in stream.read().decode("utf-8").splitlines()]
    return records
