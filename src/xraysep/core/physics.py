"""A physically motivated model of the X-radiograph of a panel painted on both sides.

X-rays are attenuated by the heavy elements in pigments: lead white, lead-tin yellow and
vermilion (mercury) absorb most; copper and iron pigments (azurite, verdigris, ochres) less;
organic lakes, ultramarine and carbon black hardly at all. Each pixel's colour is softly
assigned to a small historical palette to get an attenuation coefficient, multiplied by a paint
thickness that varies with brushwork, and slightly blurred (source size, scatter). The back
side is seen mirrored. A radiograph shows absorption, so with total optical depth ``τ`` the
image is ``1 − exp(−τ)`` (Beer–Lambert); the wooden support adds its own grain, and the
detector adds noise. The plain linear sum ``x = x1 + x2`` is the first-order approximation
the separation methods assume. Optional hidden content (a fill, a nail, an underdrawing
stroke) is visible in the X-ray but in neither photograph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage
from skimage import draw

Mixture = Literal["beer-lambert", "linear"]

# (RGB in [0, 1], attenuation per unit thickness): a coarse historical palette.
PALETTE: dict[str, tuple[tuple[float, float, float], float]] = {
    "lead white": ((0.93, 0.92, 0.88), 1.00),
    "lead-tin yellow": ((0.92, 0.82, 0.35), 0.90),
    "vermilion": ((0.82, 0.22, 0.14), 0.85),
    "azurite": ((0.20, 0.36, 0.68), 0.45),
    "verdigris": ((0.25, 0.52, 0.35), 0.40),
    "yellow ochre": ((0.76, 0.58, 0.28), 0.35),
    "raw umber": ((0.40, 0.27, 0.16), 0.30),
    "ultramarine": ((0.16, 0.18, 0.56), 0.15),
    "red lake": ((0.55, 0.10, 0.22), 0.10),
    "carbon black": ((0.06, 0.06, 0.06), 0.05),
}
ASSIGNMENT_TEMPERATURE = 0.02


@dataclass(frozen=True)
class Physics:
    """Switches of the forward model; the defaults are the realistic setting."""

    mixture: Mixture = "beer-lambert"
    support: bool = True
    noise: float = 0.01
    hidden: bool = False
    thickness_variation: float = 0.25
    blur_sigma: float = 0.8
    optical_depth: float = 1.0


@dataclass(frozen=True)
class Radiograph:
    """A synthetic mixed X-ray and what each side alone would give, in the X-ray frame."""

    xray: np.ndarray
    front_xray: np.ndarray
    back_xray: np.ndarray


def smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance noise with features about ``scale`` pixels across.

    Drawn on a coarse grid and upsampled by cubic splines (separable, so gigapixel fields
    cost one pass and no coordinate arrays), whatever the scale.
    """
    coarse = (max(2, round(shape[0] / scale)), max(2, round(shape[1] / scale)))
    factors = (shape[0] / coarse[0], shape[1] / coarse[1])
    field = ndimage.zoom(
        rng.standard_normal(coarse), factors, output=np.float32, order=3, mode="grid-mirror",
        grid_mode=True,
    )  # fmt: skip
    return ((field - field.mean()) / (field.std() + 1e-12)).astype(np.float32)


def attenuation(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel attenuation coefficient from colour, by soft assignment to ``PALETTE``."""
    colours = np.array([c for c, _ in PALETTE.values()], dtype=np.float32)
    mu = np.array([m for _, m in PALETTE.values()], dtype=np.float32)
    out = np.empty(rgb.shape[:2], dtype=np.float32)
    for row in range(0, rgb.shape[0], 1024):  # bounded memory on large panels
        block = rgb[row : row + 1024].astype(np.float32)
        distance = ((block[..., None, :] - colours) ** 2).sum(-1)
        logits = -distance / ASSIGNMENT_TEMPERATURE
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        out[row : row + 1024] = (weights @ mu) / weights.sum(-1)
    return out


def thickness(shape: tuple[int, int], variation: float, rng: np.random.Generator) -> np.ndarray:
    """Paint thickness around 1: broad impasto swells plus directional brush-stroke ridges."""
    broad = smooth_noise(shape, shape[0] / 8, rng)
    strokes = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), (0.8, 4.0))
    strokes /= strokes.std() + 1e-12
    return np.clip(1.0 + variation * (0.6 * broad + 0.4 * strokes), 0.2, None)


def optical_depth(rgb: np.ndarray, physics: Physics, rng: np.random.Generator) -> np.ndarray:
    """Optical depth of one painted side: attenuation × thickness, blurred."""
    depth = attenuation(rgb) * thickness(rgb.shape[:2], physics.thickness_variation, rng)
    depth *= physics.optical_depth
    return ndimage.gaussian_filter(depth, physics.blur_sigma) if physics.blur_sigma else depth


def wood_grain(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Optical depth of an oak board with vertical grain: growth rings, wavy and uneven."""
    h, w = shape
    x = np.arange(w, dtype=np.float32)[None, :]
    waviness = 0.04 * w * smooth_noise(shape, h / 3, rng)
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (x + waviness) / max(w / 24, 4.0))
    density = 1.0 + 0.3 * smooth_noise(shape, w / 4, rng)
    return (0.08 + 0.10 * rings**3) * density


def hidden_content(shape: tuple[int, int], rng: np.random.Generator):
    """Depth added under the front paint (a lead-white fill and an underdrawing stroke) and
    through the panel (a nail): present in the X-ray, absent from both photographs."""
    h, w = shape
    under_front = np.zeros(shape, dtype=np.float32)
    rows, cols = draw.ellipse(h * 0.3, w * 0.7, h * 0.08, w * 0.12, shape=shape)
    under_front[rows, cols] += 0.6  # a fill of lead white applied to a loss in the ground
    t = np.linspace(0, 1, 4 * max(h, w))
    ys = (h * (0.55 + 0.25 * t + 0.03 * np.sin(9 * t))).astype(int).clip(0, h - 1)
    xs = (w * (0.15 + 0.5 * t)).astype(int).clip(0, w - 1)
    stroke = np.zeros(shape, dtype=np.float32)
    stroke[ys, xs] = 1.0
    stroke = ndimage.gaussian_filter(stroke, max(1.0, w / 400))
    under_front += 0.25 * stroke / (stroke.max() + 1e-12)  # a carbon-free but dense drawing
    nail = np.zeros(shape, dtype=np.float32)
    rows, cols = draw.disk((h * 0.8, w * 0.25), max(2.0, w * 0.015), shape=shape)
    nail[rows, cols] = 3.0
    return under_front, nail


def radiograph(
    front_rgb: np.ndarray, back_rgb: np.ndarray, physics: Physics, rng: np.random.Generator
) -> Radiograph:
    """Simulate the panel's X-ray from the front and the back photograph (as seen from behind).

    Returns the mixed X-ray and the truth of each side in the X-ray frame (back mirrored).
    Under Beer–Lambert each side's truth is what that side alone would show, ``1 − exp(−τ_i)``,
    and the mixture ``1 − exp(−Σ τ)`` is *not* their sum: that gap is part of the benchmark.
    """
    depth_front = optical_depth(front_rgb, physics, rng)
    depth_back = optical_depth(back_rgb, physics, rng)[:, ::-1]
    extra = np.zeros_like(depth_front)
    if physics.hidden:
        under_front, nail = hidden_content(depth_front.shape, rng)
        depth_front = depth_front + under_front
        extra += nail
    if physics.support:
        extra += wood_grain(depth_front.shape, rng)

    if physics.mixture == "beer-lambert":
        front_xray = 1.0 - np.exp(-depth_front)
        back_xray = 1.0 - np.exp(-depth_back)
        xray = 1.0 - np.exp(-(depth_front + depth_back + extra))
    elif physics.mixture == "linear":
        front_xray, back_xray = 0.5 * depth_front, 0.5 * depth_back
        xray = front_xray + back_xray + 0.5 * extra
    else:
        raise ValueError(f"unknown mixture {physics.mixture!r}")
    if physics.noise:
        xray = xray + physics.noise * rng.standard_normal(xray.shape, dtype=np.float32)
    return Radiograph(
        xray=xray.astype(np.float32),
        front_xray=np.ascontiguousarray(front_xray, dtype=np.float32),
        back_xray=np.ascontiguousarray(back_xray, dtype=np.float32),
    )
