"""Classification metrics in plain numpy, shared by the training, conversion and benchmark stages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined)."""
    true_pos = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, support, out=np.zeros_like(true_pos), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(true_pos), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def classification_report(matrix: np.ndarray, names: Sequence[str]) -> str:
    """A text table in the familiar scikit-learn layout."""
    scores = per_class_scores(matrix)
    width = max(len(n) for n in names) + 2
    lines = [f"{'':>{width}} precision    recall  f1-score   support", ""]
    for i, name in enumerate(names):
        lines.append(
            f"{name:>{width}} {scores['precision'][i]:9.4f} {scores['recall'][i]:9.4f} "
            f"{scores['f1'][i]:9.4f} {int(scores['support'][i]):9d}"
        )
    total = int(matrix.sum())
    accuracy = np.trace(matrix) / total if total else 0.0
    lines += ["", f"{'accuracy':>{width}} {'':9} {'':9} {accuracy:9.4f} {total:9d}"]
    for label, weights in (("macro avg", None), ("weighted avg", scores["support"])):
        avg = [np.average(scores[k], weights=weights) for k in ("precision", "recall", "f1")]
        lines.append(f"{label:>{width}} {avg[0]:9.4f} {avg[1]:9.4f} {avg[2]:9.4f} {total:9d}")
    return "\n".join(lines) + "\n"
