"""The photo path's decision: the photo model's class probabilities blended with those of a
28x28 model (the garment model, by default the shipped CNN) on the garment rendered the
Fashion-MNIST way.

The two models err differently: the photo model reads the whole picture, the garment model the
garment's silhouette and shading alone. On a studio shot, a garment alone on a plain backdrop
(the kind of picture Fashion-MNIST is made of: Zalando's product photos, arXiv:1708.07747),
the garment model is on home ground and reads garments the photo model confuses (shirts and
coats), so it takes most of the decision; on every other photo it takes a smaller share.

Chosen without the test garments: the studio weight on 1,000 studio shots of Fashion-MNIST
training garments that neither model trained on, the border spread as the plainest backdrop
that left the cross-validated real photos as they were, the other photos' weight by
cross-validation on the real photos (README, "The garment model").
"""

from __future__ import annotations

import numpy as np

from edge_runtime.photo.segment import Segmentation, border_spread

# Grey levels at segmentation's working size: a studio backdrop is about 0.7 (up to 16 where the
# garment reaches the border band); 1% of the real photos are below 10, 5% below 15.
STUDIO_MAX_BORDER_SPREAD = 12.0
STUDIO_WEIGHT = 0.7  # the garment model's share of a studio shot's probabilities
PHOTO_WEIGHT = 0.25  # its share of any other photo's


def is_studio_shot(segmented: Segmentation) -> bool:
    """Whether a segmented photo is a garment on a plain backdrop."""
    return bool(segmented.mask.any()) and border_spread(segmented.pixels) < STUDIO_MAX_BORDER_SPREAD


def garment_weight(studio: bool) -> float:
    """The garment model's share of a photo's decision."""
    return STUDIO_WEIGHT if studio else PHOTO_WEIGHT


def blend(photo: np.ndarray, garment: np.ndarray, weight: float | np.ndarray) -> np.ndarray:
    """A photo's class probabilities: the photo model's and the garment model's (on the
    rendered garment), ``weight`` the latter's share; one row, or a batch of rows with a
    weight each (an (N, 1) array)."""
    return ((1.0 - weight) * photo + weight * garment).astype(np.float32)
