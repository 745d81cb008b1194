"""What a batch did to its files, counted record by record, and the line that says so on stderr
at its end: ``1,067 files: 689 classified, 59 unreadable, 319 not images (.fli 44, ...)``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

SHOWN_SUFFIXES = 6


def suffix(path: str) -> str:
    """A file's suffix as the summary groups it (lower case, or ``no suffix``)."""
    return PurePosixPath(path).suffix.lower() or "no suffix"


@dataclass
class Tally:
    """Files classified (a label, or none with a reason), unreadable (error records), and not
    images (skipped), the last by suffix."""

    classified: int = 0
    unreadable: int = 0
    skipped: Counter = field(default_factory=Counter)

    def add(self, record: dict) -> None:
        """Count one record of :func:`~edge_runtime.apps.batch.file_record`'s kinds."""
        if "skipped" in record:
            self.skipped[suffix(record["path"])] += 1
        elif "error" in record:
            self.unreadable += 1
        else:
            self.classified += 1

    def update(self, other: Tally) -> None:
        """Add another tally's counts (a worker's batch) to this one."""
        self.classified += other.classified
        self.unreadable += other.unreadable
        self.skipped.update(other.skipped)

    @property
    def files(self) -> int:
        """Every file counted."""
        return self.classified + self.unreadable + self.skipped.total()

    def failed(self, strict: bool = False) -> bool:
        """Whether the exit status says some files failed: any unreadable, and with ``strict``
        any that is not an image."""
        return bool(self.unreadable or (strict and self.skipped))

    def line(self) -> str:
        """``N files: N classified, N unreadable, N not images (.suffix N, ...)``."""
        skipped = self.skipped.total()
        text = (f"{self.files:,} file{'s' * (self.files != 1)}: {self.classified:,} classified, "
                f"{self.unreadable:,} unreadable, {skipped:,} not "
                f"{'an image' if skipped == 1 else 'images'}")
        if skipped:
            common = self.skipped.most_common()
            shown = [f"{name} {count:,}" for name, count in common[:SHOWN_SUFFIXES]]
            text += f" ({', '.join(shown)}{', ...' if len(common) > SHOWN_SUFFIXES else ''})"
        return text
