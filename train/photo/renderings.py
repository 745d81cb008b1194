"""Fashion-MNIST garments rendered as the pictures the photo model meets: studio product shots
and casual photos on floors, beds and tables.

Fashion-MNIST was made from studio product shots, dark garment on a light background, negated
and shrunk to 28x28 (arXiv:1708.07747, section 2). Rendering goes the other way: the garment's
intensity becomes a coloured, shaded garment, enlarged and placed on a background, with the
noise, blur and JPEG compression of a real picture. The photo source (real phone photos) has no
bags and no studio shots; these renderings bring both classes of picture into training.
"""

from __future__ import annotations

import cv2
import numpy as np

SHOT_SIZE = (240, 320)  # rendered pictures, height x width: the photo models take 224 px or less
_GARMENT_LEVEL = 12.0  # Fashion-MNIST pixels above this are garment


def _garment_layers(image: np.ndarray, side: int, rng: np.random.Generator):
    """The garment enlarged to ``side`` px: its opacity (soft edge) and a BGR colour with the
    shading of the original's intensities."""
    big = cv2.resize(image.astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big, 0, 255)
    alpha = np.clip((big - _GARMENT_LEVEL) / 40.0, 0, 1)[:, :, None]
    colour = rng.uniform(15, 235, 3).astype(np.float32)
    # Bright in Fashion-MNIST is dark in the product shot it came from; how much of that shading
    # shows varies with the fabric and the light.
    depth = rng.uniform(0.3, 0.8)
    shade = colour * (1.0 + depth / 2 - depth * big[:, :, None] / 255.0)
    return alpha, shade


def _place(canvas: np.ndarray, alpha: np.ndarray, shade: np.ndarray, rng: np.random.Generator,
           centred: bool) -> None:
    side = alpha.shape[0]
    height, width = canvas.shape[:2]
    if centred:
        top, left = (height - side) // 2, (width - side) // 2
    else:
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
    patch = canvas[top : top + side, left : left + side]
    patch[:] = alpha * shade + (1 - alpha) * patch


def _finish(canvas: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Sensor noise, a little blur and JPEG compression, as a camera and a website add them."""
    canvas = canvas + rng.normal(0, noise, canvas.shape)
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.4, 1.2))
    quality = int(rng.integers(55, 96))
    ok, data = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def product_shot(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 Fashion-MNIST garment as a studio product shot: BGR, dark-ish garment filling
    50-90% of a light, evenly lit background, centred or not."""
    height, width = SHOT_SIZE
    background = rng.uniform(200, 255) * rng.uniform(0.95, 1.0, 3)
    gradient = np.linspace(1 - rng.uniform(0, 0.08), 1, height)[:, None, None]
    canvas = np.broadcast_to(background * gradient, (height, width, 3)).astype(np.float32).copy()
    alpha, shade = _garment_layers(image, int(height * rng.uniform(0.5, 0.9)), rng)
    _place(canvas, alpha, shade, rng, centred=rng.random() < 0.5)
    return _finish(canvas, rng, rng.uniform(0, 5))


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A background like those of phone photos of clothes: wood, fabric, carpet or tiles."""
    height, width = SHOT_SIZE
    # Floors, beds and tables are muted: a grey level with a slight tint.
    base = (rng.uniform(50, 225) * rng.uniform(0.8, 1.2, 3)).astype(np.float32)
    kind = rng.integers(4)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    along = xs * np.cos(angle) + ys * np.sin(angle)
    if kind == 0:  # wood: stripes with grain
        period = rng.uniform(6, 30)
        pattern = 0.12 * np.sin(along / period + rng.normal(0, 0.4, (height, width)).cumsum(1) / 40)
    elif kind == 1:  # fabric: fine weave and soft folds
        pattern = 0.05 * np.sin(along / rng.uniform(1.5, 3)) + 0.1 * np.sin(
            (xs * np.sin(angle) - ys * np.cos(angle)) / rng.uniform(20, 60))
    elif kind == 2:  # carpet: blurred noise
        pattern = cv2.GaussianBlur(rng.normal(0, 0.25, (height, width)).astype(np.float32),
                                   (0, 0), rng.uniform(1, 4))
    else:  # tiles: a grid of grout lines
        step = rng.uniform(30, 90)
        grout = (np.mod(xs, step) < 3) | (np.mod(ys, step) < 3)
        pattern = np.where(grout, -0.25, 0.0).astype(np.float32)
    light = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.9, 1.15), width)[None, :]
    return base * ((1 + pattern) * light)[:, :, None]


def casual_photo(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 Fashion-MNIST garment as a casual phone photo: BGR, tilted, on a textured
    background (wood, fabric, carpet, tiles), unevenly lit, filling 45-95% of the frame."""
    height, width = SHOT_SIZE
    canvas = _texture(rng)
    side = int(height * rng.uniform(0.45, 0.95))
    alpha, shade = _garment_layers(image, side, rng)
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-25, 25), 1.0)
    alpha = cv2.warpAffine(alpha[:, :, 0], turn, (side, side))[:, :, None]
    shade = cv2.warpAffine(shade, turn, (side, side), borderMode=cv2.BORDER_REPLICATE)
    _place(canvas, alpha, shade, rng, centred=False)
    return _finish(canvas, rng, rng.uniform(2, 8))


def render_set(images: np.ndarray, labels: np.ndarray, per_class: int, seed: int
               ) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """``per_class`` garments of every class, each rendered once, half as product shots and
    half as casual photos: the pictures, their labels and their kind."""
    rng = np.random.default_rng(seed)
    pictures, kept, kinds = [], [], []
    for class_id in np.unique(labels):
        chosen = rng.choice(np.flatnonzero(labels == class_id), per_class, replace=False)
        for n, index in enumerate(chosen):
            studio = n % 2 == 0
            pictures.append(product_shot(images[index], rng) if studio
                            else casual_photo(images[index], rng))
            kept.append(class_id)
            kinds.append("product shot" if studio else "casual photo")
    return pictures, np.array(kept, dtype=np.uint8), kinds
