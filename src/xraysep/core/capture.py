"""What the capture does to a panel's images: the factors of the photographs and the film.

Real photographs are taken with another camera than the radiograph, under other light, and
saved as JPEG; real X-rays are recorded on film or a detector whose response is not linear.
These act after the painting's physics (:mod:`xraysep.core.physics`) and change what the
methods see, never the truth. Strength ranges are those of :mod:`xraysep.core.factors`.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import SimilarityTransform, warp

DEGREES_PER_PIXEL = 0.1  # misregistration: rotation that comes with each pixel of shift
JPEG_LOWEST_QUALITY = 5


def misregister(rgb: np.ndarray, pixels: float, rng: np.random.Generator) -> np.ndarray:
    """The photograph as a camera a little off the radiograph's frame sees it: shifted by
    ``pixels`` in a random direction and rotated by ``0.1°`` per pixel about the centre."""
    h, w = rgb.shape[:2]
    angle = np.deg2rad(DEGREES_PER_PIXEL * pixels) * rng.choice((-1.0, 1.0))
    direction = rng.uniform(0, 2 * np.pi)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    shift = pixels * np.array([np.cos(direction), np.sin(direction)])
    transform = (
        SimilarityTransform(translation=-centre)
        + SimilarityTransform(rotation=angle)
        + SimilarityTransform(translation=centre + shift)
    )
    moved = warp(rgb, transform.inverse, order=1, mode="edge", preserve_range=True)
    return moved.astype(np.float32)


def white_balance(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """The photograph under other light and exposure: a gain per channel (white balance)
    and one overall (exposure), log-normal with spread 0.15 and 0.3 × ``strength``."""
    gains = np.exp(strength * (0.15 * rng.standard_normal(3) + 0.3 * rng.standard_normal()))
    return np.clip(rgb * gains.astype(np.float32), 0.0, 1.0)


def jpeg_quality(strength: float) -> int | None:
    """The JPEG quality that ``strength`` stands for (``None``: a lossless file)."""
    if strength <= 0:
        return None
    return max(JPEG_LOWEST_QUALITY, round(100 * (1.0 - strength)))


def film_response(xray: np.ndarray, strength: float) -> np.ndarray:
    """The recorded image of absorption ``xray`` through an S-shaped characteristic curve
    (a toe and a shoulder around the median, as film's density curve and a saturating
    detector have), blended with the linear record by ``strength``."""
    if strength <= 0:
        return xray
    middle = float(np.median(xray))
    low, high = float(xray.min()), float(xray.max())
    span = max(high - low, 1e-6)

    def curve(value):
        return 1.0 / (1.0 + np.exp(-8.0 * (value - middle) / span))

    bottom, top = curve(low), curve(high)
    shaped = low + span * (curve(xray) - bottom) / (top - bottom)
    return ((1.0 - strength) * xray + strength * shaped).astype(np.float32)
