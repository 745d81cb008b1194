"""Output parsing: class probabilities to small typed records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Candidate:
    """One class and its probability."""

    label: str
    class_id: int
    score: float


@dataclass(frozen=True)
class Prediction:
    """The top class (``unknown``, class_id -1, below the threshold) and the top-k candidates."""

    label: str
    class_id: int
    score: float
    top_k: tuple[Candidate, ...]

    def as_dict(self) -> dict:
        """JSON-ready form: label, class_id, score, top_k (built by hand: dataclasses.asdict
        deep-copies and was a quarter of the time per image in a directory run)."""
        return {"label": self.label, "class_id": self.class_id, "score": self.score,
                "top_k": [{"label": c.label, "class_id": c.class_id, "score": c.score}
                          for c in self.top_k]}


def parse_output(
    probabilities: np.ndarray, labels: Sequence[str], top_k: int = 3, threshold: float = 0.0
) -> Prediction:
    """Rank ``probabilities``; the best class becomes ``unknown`` when its score < ``threshold``."""
    if len(probabilities) != len(labels):
        raise ValueError(f"model gives {len(probabilities)} scores, manifest has {len(labels)} labels")
    order = np.argsort(-probabilities, kind="stable")[: max(1, top_k)]
    candidates = tuple(
        Candidate(labels[i], int(i), round(float(probabilities[i]), 6)) for i in order
    )
    best = candidates[0]
    if best.score < threshold:
        return Prediction(UNKNOWN, -1, best.score, candidates)
    return Prediction(best.label, best.class_id, best.score, candidates)
