"""Synth: a double-sided panel with ground truth, from images that scikit-image ships.

Writes the raw files a real scan would give (front photograph, back photograph as seen from
behind, the mixed X-ray, and the true X-rays of each side and of what neither photograph
shows) to the raw folder ``data/raw/<name>/`` (``io.raw_folder``), then ingests them like any
other panel, so synthetic and real panels go through exactly the same path. The named factors
of :mod:`xraysep.core.factors` make the X-ray more than a function of the visible colours;
the capture's factors change the files the methods read (shifted, re-lit or JPEG
photographs, a non-linear film), never the truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import skimage.data
from skimage.transform import resize

from xraysep import config
from xraysep.core import capture
from xraysep.core.factors import check_factors
from xraysep.core.physics import Mixture, Physics, radiograph
from xraysep.errors import InputError
from xraysep.io import images, raw_folder, store
from xraysep.io.atomic import atomic_dir
from xraysep.jobs.ingest import ingest_folder
from xraysep.settings import PanelEntry

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
EARLIER = "camera"  # the composition that ``underpainting`` hides under the front


def _square(picture: np.ndarray, size: int) -> np.ndarray:
    h, w = picture.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = picture[top : top + side, left : left + side]
    return resize(square, (size, size), order=1, anti_aliasing=side > size).astype(np.float32)


def source_image(name: str, size: int) -> np.ndarray:
    """A shipped scikit-image RGB picture, centre-cropped to a square and resized to ``size``."""
    if name not in SOURCES:
        raise InputError(f"source image {name!r}: unknown; choose one of {', '.join(SOURCES)}")
    return _square(getattr(skimage.data, name)()[..., :3], size)


def earlier_composition(size: int) -> np.ndarray:
    """The grey picture, in [0, 1], of the earlier composition painted under the front."""
    return _square(getattr(skimage.data, EARLIER)(), size)


def photographs(
    front_rgb: np.ndarray, back_rgb: np.ndarray, factors: dict[str, float], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The two photographs as the capture's factors give them. Their randomness has a stream
    of its own, so the painting and its X-ray stay the same whatever the capture does."""
    rng = np.random.default_rng([seed, 1])
    shots = []
    for rgb in (front_rgb, back_rgb):
        if pixels := factors.get("misregistration", 0.0):
            rgb = capture.misregister(rgb, pixels, rng)
        if strength := factors.get("white-balance", 0.0):
            rgb = capture.white_balance(rgb, strength, rng)
        shots.append(rgb)
    return shots[0], shots[1]


def synth(
    name: str,
    *,
    size: int = 256,
    seed: int = 0,
    front: str = "astronaut",
    back: str = "coffee",
    mixture: Mixture = "beer-lambert",
    grain: bool = True,
    noise: float = 0.01,
    factors: dict[str, float] | None = None,
    overwrite: bool = False,
    ingest_it: bool = True,
) -> Path:
    """Simulate panel ``name``'s raw files and ingest them with their truth arrays; returns the
    store's path, or with ``ingest_it`` false (the DVC pipeline's ingest stage follows) the raw
    folder's."""
    where = config.paths(name)
    factors = check_factors(factors)
    if size < 16:
        raise InputError(f"--size {size}: must be at least 16 pixels")
    if front == back:
        raise InputError(f"front and back source are both {front!r}; choose two different images")
    if mixture not in Mixture.__args__:
        raise InputError(f"mixture {mixture!r}: unknown; choose beer-lambert or linear")
    if ingest_it and store.panel_exists(where.store) and not overwrite:
        raise InputError(f"{where.store}: panel {name!r} exists; pass --overwrite to replace it")
    physics = Physics(mixture=mixture, grain=grain, noise=noise, factors=factors)
    rng = np.random.default_rng(seed)
    front_rgb = source_image(front, size)
    back_rgb = source_image(back, size)  # as photographed from behind: not yet mirrored
    earlier = earlier_composition(size) if factors.get("underpainting") else None
    result = radiograph(front_rgb, back_rgb, physics, rng, earlier)
    xray = capture.film_response(result.xray, factors.get("film-response", 0.0))
    front_photo, back_photo = photographs(front_rgb, back_rgb, factors, seed)
    quality = capture.jpeg_quality(factors.get("jpeg", 0.0))
    suffix = ".png" if quality is None else ".jpg"

    settings = {
        "size": size,
        "seed": seed,
        "front": front,
        "back": back,
        "mixture": mixture,
        "grain": grain,
        "noise": noise,
        "factors": factors,
    }
    with atomic_dir(where.raw_dir) as raw:
        for side, photo in (("front", front_photo), ("back", back_photo)):
            if quality is None:
                images.write_png(raw / f"{side}{suffix}", images.to_uint8(photo))
            else:
                images.write_jpeg(raw / f"{side}{suffix}", images.to_uint8(photo), quality)
        images.write_tiff(raw / "xray.tiff", xray)
        images.write_tiff(raw / "truth_front.tiff", result.front_xray)
        images.write_tiff(raw / "truth_back.tiff", result.back_xray)
        images.write_tiff(raw / "truth_hidden.tiff", result.hidden_xray)
        (raw / raw_folder.MADE_BY).write_text(json.dumps({"synth": settings}, indent=2) + "\n")
    if not ingest_it:
        return where.raw_dir
    # synthesised in the X-ray's frame: nothing to register
    return ingest_folder(name, PanelEntry(aligned=True), overwrite=overwrite)
