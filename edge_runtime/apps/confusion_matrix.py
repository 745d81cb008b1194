"""The confusion matrix of ``fashion-evaluate`` as a PNG, drawn with OpenCV (no matplotlib on a
device)."""

from __future__ import annotations

import numpy as np

from edge_runtime.media.image_io import encode_png
from edge_runtime.media.opencv import cv2


def render_confusion_matrix(matrix: np.ndarray, labels, title: str) -> bytes:
    """A confusion-matrix heatmap as PNG bytes, drawn with OpenCV (no matplotlib on a device).

    Cells are shaded by the fraction of their row (true class) and show the raw count.
    """
    cell, left, top = 56, 130, 70
    n = len(labels)
    canvas = np.full((top + cell * n + 110, left + cell * n + 20, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(canvas, title, (10, 28), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "rows: true class, columns: predicted", (10, 52), font, 0.45,
                (80, 80, 80), 1, cv2.LINE_AA)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    for row in range(n):
        cv2.putText(canvas, labels[row][:14], (6, top + row * cell + cell // 2 + 5), font, 0.42,
                    (0, 0, 0), 1, cv2.LINE_AA)
        for col in range(n):
            x, y = left + col * cell, top + row * cell
            shade = int(255 * (1 - rates[row, col]))
            cv2.rectangle(canvas, (x, y), (x + cell - 1, y + cell - 1), (255, shade, shade), -1)
            cv2.rectangle(canvas, (x, y), (x + cell - 1, y + cell - 1), (200, 200, 200), 1)
            colour = (255, 255, 255) if rates[row, col] > 0.5 else (0, 0, 0)
            text = str(int(matrix[row, col]))
            cv2.putText(canvas, text, (x + cell // 2 - 5 * len(text), y + cell // 2 + 5), font,
                        0.45, colour, 1, cv2.LINE_AA)
    for col in range(n):  # column labels, written vertically below the grid
        label = np.full((cell, 100, 3), 255, np.uint8)
        cv2.putText(label, labels[col][:14], (2, cell // 2 + 5), font, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
        rotated = cv2.rotate(label, cv2.ROTATE_90_CLOCKWISE)
        y0 = top + n * cell + 5
        canvas[y0 : y0 + 100, left + col * cell : left + (col + 1) * cell] = rotated
    return encode_png(canvas)
