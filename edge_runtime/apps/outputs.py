"""Result writers: JSON Lines, CSV and text, one record at a time, flushed as written.

Flushing each record means an interrupted run keeps everything it reported before the stop.
Files and live frames have their own records: ``path`` and the top-k for a file, ``time``,
``frame``, latency and frame rate for a frame of a camera or video.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import TextIO

FORMATS = ("text", "jsonl", "csv")
_CSV_COLUMNS = ("path", "label", "class_id", "score", "top_k", "reason", "error", "warning",
                "skipped")
_LIVE_CSV_COLUMNS = ("time", "frame", "label", "class_id", "score", "latency_ms", "fps", "reason")


class RecordWriter:
    """Write result records: a file's (``path`` and ``label``..., ``error`` or ``skipped``) or, with
    ``live``, a frame's (``time``, ``frame``, ``label``..., ``latency_ms``, ``fps``)."""

    def __init__(self, stream: TextIO, fmt: str = "jsonl", live: bool = False) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}, expected one of {FORMATS}")
        self.stream, self.format = stream, fmt
        self._line = _frame_line if live else _text_line
        self._csv = None
        if fmt == "csv":
            columns = _LIVE_CSV_COLUMNS if live else _CSV_COLUMNS
            self._csv = csv.DictWriter(stream, columns, extrasaction="ignore")
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
            self.stream.write(self._line(record) + "\n")
        self.stream.flush()


def _text_line(record: dict) -> str:
    if "error" in record:
        return f"{record['path']}: ERROR {record['error']}"
    if "skipped" in record:
        return f"{record['path']}: skipped: {record['skipped']}"
    return _label_line(record) + (f"  [warning: {record['warning']}]" if "warning" in record else "")


def _label_line(record: dict) -> str:
    if record["label"] is None:
        candidates = ", ".join(f"{c['label']} {c['score']:.2f}" for c in record["top_k"])
        return f"{record['path']}: no label: {record['reason']}" + (
            f"  ({candidates})" if candidates else "")
    others = ", ".join(f"{c['label']} {c['score']:.2f}" for c in record["top_k"][1:])
    extra = f"  ({others})" if others else ""
    return f"{record['path']}: {record['label']} {record['score']:.3f}{extra}"


def _frame_line(record: dict) -> str:
    clock = datetime.fromtimestamp(record["time"]).strftime("%H:%M:%S.%f")[:-3]  # local time
    head = f"{clock} frame {record['frame']}: "
    tail = f"  ({record['latency_ms']:.1f} ms, {record['fps']:.1f} FPS)"
    if record["label"] is None:
        return head + f"no label: {record['reason']}" + tail
    return head + f"{record['label']} {record['score']:.3f}" + tail
