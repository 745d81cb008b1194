"""Result writers: JSON Lines, CSV and text, one record at a time, flushed as written.

Flushing each record means an interrupted run keeps everything it reported before the stop.
"""

from __future__ import annotations

import csv
import json
from typing import TextIO

FORMATS = ("text", "jsonl", "csv")
_CSV_COLUMNS = ("path", "label", "class_id", "score", "top_k", "reason", "error")


class RecordWriter:
    """Write result records (dicts with ``path`` and either ``label``... or ``error``)."""

    def __init__(self, stream: TextIO, fmt: str = "jsonl") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}, expected one of {FORMATS}")
        self.stream, self.format = stream, fmt
        self._csv = None
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, _CSV_COLUMNS, extrasaction="ignore")
            self._csv.writeheader()

    def write(self, record: dict) -> None:
        """Write one record and flush it."""
        if self.format == "jsonl":
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.format == "csv":
            row = dict(record)
            if "top_k" in row:
                row["top_k"] = ";".join(f"{c['label']}:{c['score']:.4f}" for c in row["top_k"])
            self._csv.writerow(row)
        else:
            self.stream.write(_text_line(record) + "\n")
        self.stream.flush()


def _text_line(record: dict) -> str:
    if "error" in record:
        return f"{record['path']}: ERROR {record['error']}"
    if record["label"] is None:
        candidates = ", ".join(f"{c['label']} {c['score']:.2f}" for c in record["top_k"])
        return f"{record['path']}: no label: {record['reason']}" + (
            f"  ({candidates})" if candidates else "")
    others = ", ".join(f"{c['label']} {c['score']:.2f}" for c in record["top_k"][1:])
    extra = f"  ({others})" if others else ""
    return f"{record['path']}: {record['label']} {record['score']:.3f}{extra}"
