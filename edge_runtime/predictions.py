"""Output parsing: class probabilities to small typed records, by the one decision rule that
files, camera frames and ``fashion-evaluate`` all share (:func:`decide`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import getitem
from typing import NamedTuple

import numpy as np

NO_GARMENT = "no garment in view"
_new = tuple.__new__


class Candidate(NamedTuple):
    """One class and its probability. Immutable, as a :class:`DecisionRule` hands out shared
    ones; a named tuple, as a frozen dataclass costs three times as much to make."""

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
        scores rounded to 6 decimals (built by hand: dataclasses.asdict deep-copies, which
        costs more than the rest of a directory run's work per image)."""
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
    # tuple.__new__ makes a Candidate at half the cost of calling the class (as _make does).
    if quantization is None:
        candidates = tuple([_new(Candidate, (labels[i], i, scores[i])) for i in order])
    else:
        scale, zero_point = quantization
        candidates = tuple([_new(Candidate, (labels[i], i, (scores[i] - zero_point) * scale))
                            for i in order])
    return _choose(candidates, threshold)


def _choose(candidates: tuple[Candidate, ...], threshold: float) -> Prediction:
    best = candidates[0]
    if best.score < threshold:
        return Prediction(None, None, None, candidates,
                          f"top score {best.score:.2f} below threshold {threshold:.2f}")
    return Prediction(best.label, best.class_id, best.score, candidates)


class DecisionRule:
    """:func:`decide` bound to one model's labels, top-k, threshold and output quantization.

    A uint8 output has 256 possible scores per class, so every candidate is made once, and
    each (class, score) gets an integer key, score x classes + (classes - 1 - class id): keys
    sort as :func:`decide` sorts (by score, ties by class id) and index their candidate. A
    decision is then a sort of ten integers and lookups, all in C, a fraction of what an int8
    MLP's invoke costs.
    """

    __slots__ = ("labels", "top_k", "threshold", "quantization", "_keys", "_candidates",
                 "_top3")

    def __init__(self, labels: Sequence[str], top_k: int = 3, threshold: float = 0.0,
                 quantization: tuple[float, int] | None = None, uint8: bool = False) -> None:
        self.labels, self.top_k, self.threshold = labels, max(1, top_k), threshold
        self.quantization = quantization
        self._keys = self._candidates = None
        self._top3 = False
        if quantization is not None and uint8:
            n, (scale, zero_point) = len(labels), quantization
            self._keys = [[score * n + n - 1 - i for score in range(256)] for i in range(n)]
            self._candidates = [Candidate(labels[i], i, (score - zero_point) * scale)
                                for score in range(256) for i in reversed(range(n))]
            # The default top-3 is picked by three plain lookups, cheaper than
            # tuple(map(...)) over a slice.
            self._top3 = self.top_k == 3 and n >= 3

    def __call__(self, scores: np.ndarray | Sequence[float] | None) -> Prediction:
        """The prediction for one input's raw scores (None: no garment), as :func:`decide`;
        a list of uint8 scores (what :meth:`ModelRunner.raw_scores` gives) takes the keys."""
        keys = self._keys
        if keys is None or type(scores) is not list or len(scores) != len(keys):
            return decide(scores, self.labels, self.top_k, self.threshold, self.quantization)
        best_keys = sorted(map(getitem, keys, scores), reverse=True)
        table = self._candidates
        if self._top3:
            candidates = (table[best_keys[0]], table[best_keys[1]], table[best_keys[2]])
        else:
            candidates = tuple(map(table.__getitem__, best_keys[: self.top_k]))
        best = candidates[0]
        if best.score < self.threshold:
            return _choose(candidates, self.threshold)
        # _choose's other branch, inlined: a call is a tenth of what this method costs.
        return Prediction(best.label, best.class_id, best.score, candidates)

    def decide(self, probabilities: np.ndarray | Sequence[float] | None) -> Prediction:
        """The prediction for class probabilities (dequantized; None: no garment), with this
        rule's labels, top-k and threshold."""
        return decide(probabilities, self.labels, self.top_k, self.threshold)
