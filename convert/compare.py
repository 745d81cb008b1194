"""Compare a converted model with its Keras source on the same images, and gate on the drop."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edge_runtime.labels import FASHION_MNIST_LABELS

BOOTSTRAP_RESAMPLES = 10_000


@dataclass(frozen=True)
class Comparison:
    """Accuracy of the reference (Keras) and candidate (TFLite) on the same images.

    Drops are in percentage points, reference minus candidate: positive means the candidate is
    worse. ``drop_ci95_pp`` is a paired bootstrap interval on the overall drop.
    """

    n: int
    reference_accuracy: float
    candidate_accuracy: float
    drop_pp: float
    drop_ci95_pp: tuple[float, float]
    per_class_drop_pp: dict[str, float]
    worst_class: str
    worst_class_drop_pp: float
    agreement: float
    discordant: tuple[int, int]

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def paired_drop_interval(
    ref_correct: np.ndarray, cand_correct: np.ndarray, seed: int = 0
) -> tuple[float, float]:
    """95% paired-bootstrap interval of the accuracy drop, in points.

    Resampling images with replacement only changes how many of the two discordant kinds
    (reference right and candidate wrong: b; the reverse: c) are drawn, so each resample is a
    multinomial draw of (b, c, rest): exact for the paired bootstrap, and instant.
    """
    n = len(ref_correct)
    b = int(np.sum(ref_correct & ~cand_correct))
    c = int(np.sum(~ref_correct & cand_correct))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, [b / n, c / n, 1 - (b + c) / n], size=BOOTSTRAP_RESAMPLES)
    drops = (draws[:, 0] - draws[:, 1]) * 100.0 / n
    low, high = np.percentile(drops, [2.5, 97.5])
    return round(float(low), 3), round(float(high), 3)


def compare_predictions(
    labels: np.ndarray, reference: np.ndarray, candidate: np.ndarray,
    names=FASHION_MNIST_LABELS,
) -> Comparison:
    """Compare predicted class ids of two models against the true ``labels``."""
    ref_correct, cand_correct = reference == labels, candidate == labels
    per_class = {}
    for class_id, name in enumerate(names):
        rows = labels == class_id
        if rows.any():
            drop = (ref_correct[rows].mean() - cand_correct[rows].mean()) * 100
            per_class[name] = round(float(drop), 3)
    worst = max(per_class, key=per_class.get)
    return Comparison(
        n=int(len(labels)),
        reference_accuracy=float(ref_correct.mean()),
        candidate_accuracy=float(cand_correct.mean()),
        drop_pp=round(float(ref_correct.mean() - cand_correct.mean()) * 100, 3),
        drop_ci95_pp=paired_drop_interval(ref_correct, cand_correct),
        per_class_drop_pp=per_class,
        worst_class=worst,
        worst_class_drop_pp=per_class[worst],
        agreement=float((reference == candidate).mean()),
        discordant=(int(np.sum(ref_correct & ~cand_correct)),
                    int(np.sum(~ref_correct & cand_correct))),
    )


def gate_failures(comparison: Comparison, tolerance_pp: float, per_class_tolerance_pp: float
                  ) -> list[str]:
    """The limits a comparison breaks, each as one sentence; empty when it may ship."""
    failures = []
    if comparison.drop_pp > tolerance_pp:
        failures.append(
            f"accuracy drop {comparison.drop_pp:.2f} pp exceeds --tolerance-pp {tolerance_pp} "
            f"by {comparison.drop_pp - tolerance_pp:.2f} pp"
        )
    if comparison.worst_class_drop_pp > per_class_tolerance_pp:
        failures.append(
            f"{comparison.worst_class} drop {comparison.worst_class_drop_pp:.2f} pp exceeds "
            f"--per-class-tolerance-pp {per_class_tolerance_pp} by "
            f"{comparison.worst_class_drop_pp - per_class_tolerance_pp:.2f} pp"
        )
    return failures
