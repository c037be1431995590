"""A physically motivated model of the X-radiograph of a panel painted on both sides.

X-rays are attenuated by the heavy elements in pigments: lead white, lead-tin yellow and
vermilion (mercury) absorb most; copper and iron pigments (azurite, verdigris, ochres) less;
organic lakes, ultramarine and carbon black hardly at all. Each pixel's colour is softly
assigned to a small historical palette to get an attenuation coefficient, multiplied by a paint
thickness that varies with brushwork, and slightly blurred (source size, scatter). The back
side is seen mirrored. A radiograph shows absorption, so with total optical depth ``τ`` the
image is ``1 − exp(−τ)`` (Beer–Lambert); the wooden support adds its own grain, and the
detector adds noise. The plain linear sum ``x = x1 + x2`` is the first-order approximation
the separation methods assume.

With every factor of :mod:`xraysep.core.factors` at 0 the X-ray is a function of the visible
colours times thickness. The painting's factors break that as real panels do: regions painted
with low-lead metamers of the palette (``metamerism``), glazes over absorbing underlayers
(``layering``), an earlier composition in lead white under the front (``underpainting``),
uneven grounds (``ground``) and a cradled support with nails and a fill (``support``).
Each side's truth is its visible composition's paint, recipes and layers included; what
belongs to the panel or to an earlier composition (grain, grounds, support, underpainting)
is the third truth, ``hidden``, seen by the X-ray and by neither photograph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import ndimage
from skimage import draw

Mixture = Literal["beer-lambert", "linear"]

# pigment: (RGB in [0, 1], attenuation per unit thickness, the attenuation of a metamer that
# looks the same, the attenuation of what commonly lies under it as a glaze or thin layer)
PALETTE: dict[str, tuple[tuple[float, float, float], float, float, float]] = {
    "lead white": ((0.93, 0.92, 0.88), 1.00, 0.10, 0.0),  # metamer: chalk
    "lead-tin yellow": ((0.92, 0.82, 0.35), 0.90, 0.08, 0.0),  # a yellow lake on chalk
    "vermilion": ((0.82, 0.22, 0.14), 0.85, 0.35, 0.0),  # an iron red
    "azurite": ((0.20, 0.36, 0.68), 0.45, 0.05, 0.0),  # indigo
    "verdigris": ((0.25, 0.52, 0.35), 0.40, 0.20, 0.90),  # green earth; over lead-tin yellow
    "yellow ochre": ((0.76, 0.58, 0.28), 0.35, 0.10, 0.0),  # a yellow lake
    "raw umber": ((0.40, 0.27, 0.16), 0.30, 0.10, 0.0),  # a brown lake
    "ultramarine": ((0.16, 0.18, 0.56), 0.15, 0.45, 0.60),  # azurite; over azurite and white
    "red lake": ((0.55, 0.10, 0.22), 0.10, 0.50, 0.85),  # a lake on red lead; over vermilion
    "carbon black": ((0.06, 0.06, 0.06), 0.05, 0.30, 0.50),  # bone black; over a light underpaint
}
ASSIGNMENT_TEMPERATURE = 0.02
UNDERLAYER_THICKNESS = 0.7  # of an underlayer, relative to the visible layer's thickness


@dataclass(frozen=True)
class Physics:
    """Switches of the forward model; the defaults are the realistic colour-determined panel.

    ``factors`` maps names of :data:`xraysep.core.factors.FACTORS` of the painting to their
    strengths (checked by the caller); the capture's factors act outside this module.
    """

    mixture: Mixture = "beer-lambert"
    grain: bool = True
    noise: float = 0.01
    thickness_variation: float = 0.25
    blur_sigma: float = 0.8
    optical_depth: float = 1.0
    factors: dict[str, float] = field(default_factory=dict)

    def strength(self, factor: str) -> float:
        return float(self.factors.get(factor, 0.0))


@dataclass(frozen=True)
class Radiograph:
    """A synthetic mixed X-ray and its parts, in the X-ray frame: what each side's visible
    composition alone would give, and what belongs to neither (``hidden``)."""

    xray: np.ndarray
    front_xray: np.ndarray
    back_xray: np.ndarray
    hidden_xray: np.ndarray


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


def attenuations(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel attenuation of the visible pigment, of its metamer and of its usual
    underlayer, by soft assignment of the colour to ``PALETTE``."""
    colours = np.array([entry[0] for entry in PALETTE.values()], dtype=np.float32)
    table = np.array([entry[1:] for entry in PALETTE.values()], dtype=np.float32).T.copy()
    out = np.empty((3, *rgb.shape[:2]), dtype=np.float32)
    for row in range(0, rgb.shape[0], 1024):  # bounded memory on large panels
        block = rgb[row : row + 1024].astype(np.float32)
        distance = ((block[..., None, :] - colours) ** 2).sum(-1)
        logits = -distance / ASSIGNMENT_TEMPERATURE
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        total = weights.sum(-1)
        for kind, mu in enumerate(table):
            out[kind, row : row + 1024] = (weights @ mu) / total
    return out[0], out[1], out[2]


def attenuation(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel attenuation coefficient of the visible colour (the colour-determined model)."""
    return attenuations(rgb)[0]


def thickness(shape: tuple[int, int], variation: float, rng: np.random.Generator) -> np.ndarray:
    """Paint thickness around 1: broad impasto swells plus directional brush-stroke ridges."""
    broad = smooth_noise(shape, shape[0] / 8, rng)
    strokes = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), (0.8, 4.0))
    strokes /= strokes.std() + 1e-12
    return np.clip(1.0 + variation * (0.6 * broad + 0.4 * strokes), 0.2, None)


def wood_grain(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Optical depth of an oak board with vertical grain: growth rings, wavy and uneven."""
    h, w = shape
    x = np.arange(w, dtype=np.float32)[None, :]
    waviness = 0.04 * w * smooth_noise(shape, h / 3, rng)
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (x + waviness) / max(w / 24, 4.0))
    density = 1.0 + 0.3 * smooth_noise(shape, w / 4, rng)
    return (0.08 + 0.10 * rings**3) * density


def regions(shape: tuple[int, int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A soft mask in [0, 1] covering about ``fraction`` of the panel in a few broad regions
    (the parts a workshop painted with another recipe), with edges a few pixels wide."""
    if fraction >= 1.0:
        return np.ones(shape, dtype=np.float32)
    field = smooth_noise(shape, min(shape) / 3, rng)
    threshold = np.quantile(field, 1.0 - fraction)
    return ndimage.gaussian_filter((field > threshold).astype(np.float32), 1.5)


def ground_depth(shape: tuple[int, int], strength: float, rng: np.random.Generator):
    """Optical depth of one side's ground (chalk with some lead white), laid unevenly: its
    thickness varies by ``strength`` around its mean over broad, brushed-out swells."""
    swell = smooth_noise(shape, min(shape) / 3, rng)
    return 0.3 * strength * np.clip(1.0 + 0.8 * swell, 0.1, None)


def support_depth(shape: tuple[int, int], strength: float, rng: np.random.Generator):
    """Optical depth of a cradled panel: two vertical battens and a cross member, nails
    along the battens, and a lead-white fill in an old loss, scaled by ``strength``."""
    h, w = shape
    depth = np.zeros(shape, dtype=np.float32)
    for centre in (w // 4, 3 * w // 4):
        half = max(1, w // 24)
        depth[:, centre - half : centre + half] += 0.35
    half = max(1, h // 32)
    depth[h // 2 - half : h // 2 + half] += 0.25
    radius = max(1.5, 0.012 * w)
    for centre in (w // 4, 3 * w // 4):
        for y in rng.uniform(0.1, 0.9, 3) * h:
            rows, cols = draw.disk((y, centre + rng.uniform(-2, 2)), radius, shape=shape)
            depth[rows, cols] += 3.0
    rows, cols = draw.ellipse(
        h * rng.uniform(0.2, 0.8), w * rng.uniform(0.2, 0.8), h * 0.07, w * 0.1, shape=shape,
        rotation=rng.uniform(0, np.pi),
    )  # fmt: skip
    depth[rows, cols] += 0.6
    return strength * ndimage.gaussian_filter(depth, 0.7)


def side_depth(
    rgb: np.ndarray,
    paint_thickness: np.ndarray,
    physics: Physics,
    metamer_mask: np.ndarray | None,
    layer_mask: np.ndarray | None,
) -> np.ndarray:
    """Optical depth of one side's visible composition, its recipes and layers: attenuation
    × thickness, blurred."""
    surface, metamer, under = attenuations(rgb)
    mu = surface
    if metamer_mask is not None:
        mu = mu + metamer_mask * (metamer - surface)
    if layer_mask is not None:
        mu = mu + layer_mask * UNDERLAYER_THICKNESS * under
    depth = mu * paint_thickness
    depth *= physics.optical_depth
    return ndimage.gaussian_filter(depth, physics.blur_sigma) if physics.blur_sigma else depth


def radiograph(
    front_rgb: np.ndarray,
    back_rgb: np.ndarray,
    physics: Physics,
    rng: np.random.Generator,
    earlier: np.ndarray | None = None,
) -> Radiograph:
    """Simulate the panel's X-ray from the front and the back photograph (as seen from behind).

    ``earlier`` is the grey picture (in [0, 1], the panel's size) of the composition that
    ``underpainting`` lays in lead white under the front. Returns the mixed X-ray and the
    truths in the X-ray frame (back mirrored). Under Beer–Lambert each truth is what its part
    alone would show, ``1 − exp(−τ_i)``, and the mixture ``1 − exp(−Σ τ)`` is *not* their sum:
    that gap is part of the benchmark.
    """
    shape = front_rgb.shape[:2]
    front_thickness = thickness(shape, physics.thickness_variation, rng)
    back_thickness = thickness(shape, physics.thickness_variation, rng)
    hidden = wood_grain(shape, rng) if physics.grain else np.zeros(shape, np.float32)
    masks: dict[str, list[np.ndarray | None]] = {}
    for factor in ("metamerism", "layering"):
        strength = physics.strength(factor)
        masks[factor] = [regions(shape, strength, rng) if strength else None for _ in range(2)]
    depth_front = side_depth(
        front_rgb, front_thickness, physics, masks["metamerism"][0], masks["layering"][0]
    )
    depth_back = side_depth(
        back_rgb, back_thickness, physics, masks["metamerism"][1], masks["layering"][1]
    )[:, ::-1]
    if strength := physics.strength("ground"):
        hidden = hidden + ground_depth(shape, strength, rng) + ground_depth(shape, strength, rng)
    if strength := physics.strength("support"):
        hidden = hidden + support_depth(shape, strength, rng)
    if strength := physics.strength("underpainting"):
        if earlier is None:
            raise ValueError("underpainting needs the earlier composition's picture")
        hidden = hidden + strength * 0.8 * ndimage.gaussian_filter(earlier, 1.0)

    if physics.mixture == "beer-lambert":
        front_xray = 1.0 - np.exp(-depth_front)
        back_xray = 1.0 - np.exp(-depth_back)
        hidden_xray = 1.0 - np.exp(-hidden)
        xray = 1.0 - np.exp(-(depth_front + depth_back + hidden))
    elif physics.mixture == "linear":
        front_xray, back_xray, hidden_xray = 0.5 * depth_front, 0.5 * depth_back, 0.5 * hidden
        xray = front_xray + back_xray + hidden_xray
    else:
        raise ValueError(f"unknown mixture {physics.mixture!r}")
    if physics.noise:
        xray = xray + physics.noise * rng.standard_normal(xray.shape, dtype=np.float32)
    return Radiograph(
        xray=xray.astype(np.float32),
        front_xray=np.ascontiguousarray(front_xray, dtype=np.float32),
        back_xray=np.ascontiguousarray(back_xray, dtype=np.float32),
        hidden_xray=np.ascontiguousarray(hidden_xray, dtype=np.float32),
    )
