"""Synth: a double-sided panel with ground truth, from images that scikit-image ships.

Writes the raw files a real scan would give (front photograph, back photograph as seen from
behind, the mixed X-ray, and the two true side X-rays) to ``data/raw/<name>/``, then ingests
them like any other panel, so synthetic and real panels go through exactly the same path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
from skimage.transform import resize

from xraysep import config
from xraysep.core.physics import Mixture, Physics, radiograph
from xraysep.errors import InputError
from xraysep.io import images, store
from xraysep.io.atomic import atomic_dir
from xraysep.jobs.ingest import ingest

SOURCES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "colorwheel",
)


def source_image(name: str, size: int) -> np.ndarray:
    """A shipped scikit-image RGB picture, centre-cropped to a square and resized to ``size``."""
    if name not in SOURCES:
        raise InputError(f"source image {name!r}: unknown; choose one of {', '.join(SOURCES)}")
    rgb = getattr(skimage.data, name)()[..., :3]
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = rgb[top : top + side, left : left + side]
    return resize(square, (size, size), order=1, anti_aliasing=side > size).astype(np.float32)


def synth(
    name: str,
    *,
    size: int = 256,
    seed: int = 0,
    front: str = "astronaut",
    back: str = "coffee",
    mixture: Mixture = "beer-lambert",
    support: bool = True,
    noise: float = 0.01,
    hidden: bool = False,
    overwrite: bool = False,
) -> Path:
    """Simulate panel ``name`` and ingest it with its truth arrays; returns the store path."""
    where = config.paths(name)
    if size < 16:
        raise InputError(f"--size {size}: must be at least 16 pixels")
    if front == back:
        raise InputError(f"front and back source are both {front!r}; choose two different images")
    if store.panel_exists(where.store) and not overwrite:
        raise InputError(f"{where.store}: panel {name!r} exists; pass --overwrite to replace it")
    physics = Physics(mixture=mixture, support=support, noise=noise, hidden=hidden)
    rng = np.random.default_rng(seed)
    front_rgb = source_image(front, size)
    back_rgb = source_image(back, size)  # as photographed from behind: not yet mirrored
    result = radiograph(front_rgb, back_rgb, physics, rng)

    with atomic_dir(where.raw_dir) as raw:
        images.write_png(raw / "front.png", images.to_uint8(front_rgb))
        images.write_png(raw / "back.png", images.to_uint8(back_rgb))
        images.write_tiff(raw / "xray.tiff", result.xray)
        images.write_tiff(raw / "truth_front.tiff", result.front_xray)
        images.write_tiff(raw / "truth_back.tiff", result.back_xray)
    return ingest(
        name,
        where.raw_dir / "front.png",
        where.raw_dir / "back.png",
        where.raw_dir / "xray.tiff",
        mirror_back=True,
        truth_front=where.raw_dir / "truth_front.tiff",
        truth_back=where.raw_dir / "truth_back.tiff",
        overwrite=overwrite,
        made_by={
            "synth": {
                "size": size,
                "seed": seed,
                "front": front,
                "back": back,
                "mixture": mixture,
                "support": support,
                "noise": noise,
                "hidden": hidden,
            }
        },
    )
