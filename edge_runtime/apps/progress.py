"""A progress bar on stderr, drawn only for people: when stderr is a terminal and the batch is long."""

from __future__ import annotations

import time
from typing import TextIO

_MIN_ITEMS = 50
_INTERVAL_S = 0.1


class Progress:
    """Call :meth:`step` per item and :meth:`close` at the end; silent when not a terminal."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream, self.done = total, stream, 0
        self.active = total >= _MIN_ITEMS and stream.isatty()
        self._last = 0.0

    def step(self) -> None:
        """Count one item; redraw at most every 0.1 s."""
        self.done += 1
        now = time.monotonic()
        if self.active and (now - self._last >= _INTERVAL_S or self.done == self.total):
            self._last = now
            filled = int(30 * self.done / self.total)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.active:
            self.stream.write("\n")
            self.stream.flush()
