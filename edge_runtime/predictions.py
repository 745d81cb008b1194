"""Output parsing: class probabilities to small typed records, by the one decision rule that
files, camera frames and ``fashion-evaluate`` all share (:func:`decide`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NO_GARMENT = "no garment in view"


@dataclass(slots=True)
class Candidate:
    """One class and its probability."""

    label: str
    class_id: int
    score: float


@dataclass(slots=True)
class Prediction:
    """The decided class and the top-k candidates.

    ``label``, ``class_id`` and ``score`` are None when no class is given; ``reason`` then
    says why (no garment in view, or the top score below the threshold). A class id is always
    a real index into the labels, never a sentinel.
    """

    label: str | None
    class_id: int | None
    score: float | None
    top_k: tuple[Candidate, ...]
    reason: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready form: label, class_id, score, top_k, and reason when there is no label;
        scores rounded to 6 decimals (built by hand: dataclasses.asdict deep-copies and was a
        quarter of the time per image in a directory run)."""
        score = None if self.score is None else round(self.score, 6)
        record = {"label": self.label, "class_id": self.class_id, "score": score,
                  "top_k": [{"label": c.label, "class_id": c.class_id, "score": round(c.score, 6)}
                            for c in self.top_k]}
        if self.reason is not None:
            record["reason"] = self.reason
        return record


def decide(probabilities: np.ndarray | Sequence[float] | None, labels: Sequence[str],
           top_k: int = 3, threshold: float = 0.0,
           quantization: tuple[float, int] | None = None) -> Prediction:
    """The prediction for one input's class probabilities; None means no garment was found.

    The best class is given when its score reaches ``threshold``; otherwise the label is None
    and the candidates are still listed. With ``quantization`` (scale, zero point) the scores
    are a quantized output as the model gave it, dequantized here for the candidates only.
    Raises ValueError when the probabilities and the labels disagree in length.
    """
    if probabilities is None:
        return Prediction(None, None, None, (), NO_GARMENT)
    # Plain floats: for ten classes, sorting them beats numpy.
    scores = probabilities.tolist() if isinstance(probabilities, np.ndarray) else probabilities
    if len(scores) != len(labels):
        raise ValueError(f"model gives {len(scores)} scores, expected {len(labels)} (one per label)")
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[: max(1, top_k)]
    if quantization is None:
        candidates = tuple([Candidate(labels[i], i, scores[i]) for i in order])
    else:
        scale, zero_point = quantization
        candidates = tuple([Candidate(labels[i], i, (scores[i] - zero_point) * scale)
                            for i in order])
    best = candidates[0]
    if best.score < threshold:
        return Prediction(None, None, None, candidates,
                          f"top score {best.score:.2f} below threshold {threshold:.2f}")
    return Prediction(best.label, best.class_id, best.score, candidates)
