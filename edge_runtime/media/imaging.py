"""Pixel operations on decoded images: colour conversions, resizing for a model's input,
blur, L*a*b*, k-means, thresholds and mask morphology (segmentation's tools)."""

from __future__ import annotations

import numpy as np

from edge_runtime.media.opencv import cv2


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """8-bit grayscale (ITU-R BT.601 luma, as Fashion-MNIST's conversion) of gray or BGR pixels."""
    return pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """RGB (what the photo models take) of gray or BGR pixels."""
    return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB if pixels.ndim == 2 else cv2.COLOR_BGR2RGB)


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize with area averaging (down) or bilinear (up)."""
    shrinking = width * height < pixels.shape[0] * pixels.shape[1]
    return cv2.resize(pixels, (width, height),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def shrink(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize for a model's input: area averaging by the largest whole factor, then bilinear
    for the rest (less than 2x). Nearly what area averaging gives, at a fraction of the cost of
    OpenCV's general area path when the factor is not whole."""
    factor = int(min(pixels.shape[1] / width, pixels.shape[0] / height))
    if factor >= 2:
        pixels = cv2.resize(pixels, (pixels.shape[1] // factor, pixels.shape[0] // factor),
                            interpolation=cv2.INTER_AREA)
    return cv2.resize(pixels, (width, height), interpolation=cv2.INTER_LINEAR)


def gaussian_blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with the kernel size derived from ``sigma``."""
    return cv2.GaussianBlur(pixels, (0, 0), sigma)


# sRGB (D65) to CIE XYZ as OpenCV defines it, X and Z divided by the white point; rows B, G, R.
_BGR_TO_XYZ = (np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
               / np.array([[0.950456], [1.0], [1.088754]])).T[::-1].astype(np.float32)
_LEVELS = np.arange(256) / 255.0
_LINEAR = np.where(_LEVELS <= 0.04045, _LEVELS / 12.92,  # sRGB's transfer curve undone
                   ((_LEVELS + 0.055) / 1.055) ** 2.4).astype(np.float32)
_LAB_EPSILON = 0.008856  # (6/29)^3: below it L*a*b* is linear in XYZ


def to_lab(bgr: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of a uint8 BGR image as float32 (L 0-100), where colour distances track
    what people see. By the formula, in numpy: cv2.cvtColor's first L*a*b* conversion builds
    lookup tables that the process keeps for good."""
    xyz = _LINEAR[bgr] @ _BGR_TO_XYZ
    # Cube roots as exp(log(x) / 3): numpy's vectorised exp and log beat its cbrt.
    f = np.exp(np.log(np.maximum(xyz, _LAB_EPSILON)) * np.float32(1 / 3))
    dark = xyz <= _LAB_EPSILON
    if dark.any():
        f[dark] = xyz[dark] * np.float32(7.787) + np.float32(16 / 116)
    lab = np.empty_like(xyz)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def kmeans_centers(samples: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` cluster centres of float32 ``samples`` (N, D) and the share of samples in each;
    deterministic for a given seed."""
    cv2.setRNGSeed(seed)
    k = min(k, len(samples))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    _, assigned, centers = cv2.kmeans(samples.astype(np.float32), k, None, criteria, 1,
                                      cv2.KMEANS_PP_CENTERS)
    return centers, np.bincount(assigned.ravel(), minlength=k) / len(assigned)


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of 8-bit ``values``."""
    threshold, _ = cv2.threshold(values, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(threshold)


def clean_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Open then close a boolean mask with an elliptical kernel: drops specks, bridges gaps."""
    size = 2 * radius + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel).astype(bool)


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label image and per-label stats (x, y, w, h, area) of a boolean mask; label 0 is empty."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a boolean mask (background regions not connected to the border)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8), (0, 0), 1)
    return (padded | (1 - flood)).astype(bool)[1:-1, 1:-1]


def absdiff_gray(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per-pixel absolute difference, as float32, of two same-sized images (max over channels)."""
    diff = cv2.absdiff(frame, background)
    return (diff.max(axis=2) if diff.ndim == 3 else diff).astype(np.float32)
