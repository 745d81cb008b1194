"""Studio shots: a garment alone on a plain backdrop, the kind of picture Fashion-MNIST is made
of (Zalando's product photos, arXiv:1708.07747). On those the 28x28 model, given the garment
rendered the Fashion-MNIST way, reads garments the photo model confuses (shirts and coats), so
the photo path blends the two models' probabilities for a studio shot and uses the photo model
alone for every other photo.

Both settings were chosen with the shipped photo and MLP models: the weight on 1,000 studio
shots of Fashion-MNIST training garments that neither model trained on, and the border spread
as the plainest backdrop that leaves the cross-validated real-photo accuracy as it was
(README, "Studio shots").
"""

from __future__ import annotations

import numpy as np

from edge_runtime.photo.segment import Segmentation, border_spread

# Grey levels at segmentation's working size: a studio backdrop is about 0.7 (up to 16 where the
# garment reaches the border band); 1% of the real photos are below 10, 5% below 15.
STUDIO_MAX_BORDER_SPREAD = 12.0
STUDIO_WEIGHT = 0.5  # the 28x28 model's share of a studio shot's probabilities


def is_studio_shot(segmented: Segmentation) -> bool:
    """Whether a segmented photo is a garment on a plain backdrop."""
    return bool(segmented.mask.any()) and border_spread(segmented.pixels) < STUDIO_MAX_BORDER_SPREAD


def blend(photo: np.ndarray, garment: np.ndarray, weight: float = STUDIO_WEIGHT) -> np.ndarray:
    """A studio shot's class probabilities: the photo model's and the 28x28 model's (on the
    rendered garment), ``weight`` the latter's share; one row or a batch of rows."""
    return ((1.0 - weight) * photo + weight * garment).astype(np.float32)
