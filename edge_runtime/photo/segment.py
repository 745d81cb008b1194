"""Find the garment in a photo: a mask that separates it from the background.

The method is the Fashion-MNIST one generalised from plain to cluttered backgrounds: the
background is what the image border looks like. A few colour clusters of the border pixels
(k-means in L*a*b*) model floors, beds and doors with their texture; clusters that hold only a
small share of the border are dropped, because they are usually the garment itself where it
touches the frame. Every pixel's distance to the nearest kept cluster, thresholded by Otsu,
gives the foreground; the largest connected parts, holes filled, are the garment. It runs on a
copy of at most WORK_SIDE pixels, so it costs the same for any photo size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_runtime.media import imaging

WORK_SIDE = 128
_BORDER_FRACTION = 0.06
_CLUSTERS = 4
_MIN_CLUSTER_SHARE = 0.2  # of border pixels: a smaller cluster is mostly the garment itself
_MIN_DISTANCE = 10.0  # L*a*b* units: below this a pixel is background whatever Otsu says
_KEEP_FRACTION = 0.25  # keep parts at least this fraction of the largest (a pair of shoes)
_MIN_BACKGROUND_DIFF = 25.0  # grey levels: below this a change is sensor noise or lighting
_MIN_AREA = 0.02  # a "garment" smaller than this share of the frame is noise: no garment


@dataclass(frozen=True)
class Segmentation:
    """The image at working resolution and its boolean garment mask (same height and width)."""

    pixels: np.ndarray
    mask: np.ndarray


def _working_copy(pixels: np.ndarray, alpha: np.ndarray | None):
    height, width = pixels.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = imaging.resize(pixels, *size) if scale < 1.0 else pixels
    small_alpha = imaging.resize(alpha, *size) if alpha is not None and scale < 1.0 else alpha
    if small.ndim == 2:
        small = np.repeat(small[:, :, None], 3, axis=2)
    return small, small_alpha


def _border(values: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([values[:width].reshape(-1, values.shape[-1]),
                           values[-width:].reshape(-1, values.shape[-1]),
                           values[:, :width].reshape(-1, values.shape[-1]),
                           values[:, -width:].reshape(-1, values.shape[-1])])


def background_distance(bgr: np.ndarray) -> np.ndarray:
    """Per-pixel L*a*b* distance to the nearest colour cluster of the image border."""
    lab = imaging.to_lab(imaging.gaussian_blur(bgr, 1.0))
    width = max(2, round(min(bgr.shape[:2]) * _BORDER_FRACTION))
    centers, shares = imaging.kmeans_centers(_border(lab, width), _CLUSTERS)
    centers = centers[shares >= min(_MIN_CLUSTER_SHARE, shares.max())]
    flat = lab.reshape(-1, 3)
    nearest = None
    for center in centers:  # one centre at a time: a third of the time of one broadcast
        diff = flat - center
        squared = np.einsum("ij,ij->i", diff, diff)
        nearest = squared if nearest is None else np.minimum(nearest, squared, out=nearest)
    return np.sqrt(nearest).reshape(bgr.shape[:2])


def _garment_parts(foreground: np.ndarray) -> np.ndarray:
    """Keep the large connected parts, preferring those that do not touch the border."""
    labels, stats = imaging.connected_components(foreground)
    if len(stats) <= 1:
        return foreground
    areas = stats[1:, 4].astype(float)
    height, width = foreground.shape
    x, y, w, h = stats[1:, 0], stats[1:, 1], stats[1:, 2], stats[1:, 3]
    touching = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    # A part that touches the border is more likely clutter; weigh it down, not out, because a
    # garment filling the frame touches it too.
    weight = areas * np.where(touching, 0.5, 1.0)
    keep = np.flatnonzero(weight >= _KEEP_FRACTION * weight.max()) + 1
    return np.isin(labels, keep)


def _garment_mask(foreground: np.ndarray) -> np.ndarray:
    """Clean a raw foreground, keep the garment's parts, fill holes; all False when what is left
    is too small to be a garment."""
    radius = max(1, round(min(foreground.shape) / 64))
    mask = imaging.fill_holes(_garment_parts(imaging.clean_mask(foreground, radius)))
    if mask.mean() < _MIN_AREA:
        mask[:] = False
    return mask


def segment_garment(pixels: np.ndarray, alpha: np.ndarray | None = None) -> Segmentation:
    """Segment the garment of a gray or BGR photo; an alpha channel, when present, is the mask."""
    small, small_alpha = _working_copy(pixels, alpha)
    if small_alpha is not None and (small_alpha < 128).any():
        return Segmentation(small, imaging.fill_holes(small_alpha >= 128))
    distance = background_distance(small)
    scaled = np.clip(distance * (255.0 / max(float(distance.max()), 1e-6)), 0, 255).astype(np.uint8)
    threshold = max(imaging.otsu_threshold(scaled) * distance.max() / 255.0, _MIN_DISTANCE)
    return Segmentation(small, _garment_mask(distance > threshold))


def empty_scene(background: np.ndarray) -> np.ndarray:
    """The empty scene of a static camera as :func:`segment_against_background` compares it:
    made once, not per frame."""
    small, _ = _working_copy(background, None)
    return imaging.gaussian_blur(small, 1.0)


def segment_against_background(pixels: np.ndarray, scene: np.ndarray) -> Segmentation:
    """Segment with a static camera: the garment is what differs from the empty scene.

    ``scene`` is :func:`empty_scene` of a frame of the same view without the garment, taken at
    the same size as ``pixels``.
    """
    small, _ = _working_copy(pixels, None)
    diff = imaging.absdiff_gray(imaging.gaussian_blur(small, 1.0), scene)
    scaled = np.clip(diff, 0, 255).astype(np.uint8)
    threshold = max(imaging.otsu_threshold(scaled), _MIN_BACKGROUND_DIFF)
    return Segmentation(small, _garment_mask(diff > threshold))
