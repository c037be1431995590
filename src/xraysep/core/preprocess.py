"""Scaling of inputs into the network's units (docs/design.md, Data model).

RGB goes to [0, 1] by its dtype's range. The mixed X-ray is histogram-stretched: values below
the 1st and above the 99th percentile are clipped and the rest rescaled to [0, 1]. The same
affine map is applied to ground-truth side images, each taking half of the offset, so that
truth and estimates live in the units of the stretched mixture and still sum to it.
"""

from __future__ import annotations

import numpy as np

STRETCH_PERCENTILES = (1.0, 99.0)
HISTOGRAM_ROWS = 1024  # rows of an integer X-ray counted at a time


def unit_scale(array: np.ndarray) -> np.ndarray:
    """Integer images to float32 in [0, 1] by their dtype's maximum; floats unchanged."""
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)
    return array.astype(np.float32, copy=False)


def stretch_limits(
    xray: np.ndarray, percentiles: tuple[float, float] = STRETCH_PERCENTILES
) -> tuple[float, float]:
    """The (low, high) grey values at the given percentiles of the X-ray, as ``np.percentile``
    gives them. ``xray`` may be any array that can be sliced (a zarr array over a TIFF): an
    integer X-ray is counted band of rows by band into a histogram, exactly, so that a
    gigapixel scan never sits in memory whole; a float one is read whole."""
    if not np.issubdtype(xray.dtype, np.integer):
        low, high = np.percentile(np.asarray(xray[:, :]), percentiles)
        return float(low), float(high)
    offset = int(np.iinfo(xray.dtype).min)
    counts = np.zeros(np.iinfo(xray.dtype).max - offset + 1, np.int64)
    for row in range(0, xray.shape[0], HISTOGRAM_ROWS):
        band = np.asarray(xray[row : row + HISTOGRAM_ROWS, :]).ravel().astype(np.int64) - offset
        counts += np.bincount(band, minlength=counts.size)
    low, high = (_percentile(counts, offset, q) for q in percentiles)
    return float(low), float(high)


def _percentile(counts: np.ndarray, offset: int, q: float) -> float:
    """``np.percentile``'s linear interpolation of the values ``offset``, ``offset + 1``, …
    counted ``counts`` times each, with its own arithmetic (so the answers agree to the last
    bit)."""
    cumulative = np.cumsum(counts)
    virtual = np.true_divide(q, 100) * (cumulative[-1] - 1)
    before = np.floor(virtual)
    gamma = virtual - before
    a = float(np.searchsorted(cumulative, before, side="right") + offset)
    b = float(
        np.searchsorted(cumulative, min(before + 1, cumulative[-1] - 1), side="right") + offset
    )
    difference = b - a
    return b - difference * (1 - gamma) if gamma >= 0.5 else a + difference * gamma


def stretch(xray: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip to [low, high] and rescale to [0, 1] as float32."""
    scaled = (xray.astype(np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def stretch_side(side: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map one side's true X-ray into stretched units, giving it half the offset.

    ``stretch(x) = (x - low) / (high - low)`` is affine, so with ``x = x1 + x2`` each side
    becomes ``(x_i - low / 2) / (high - low)`` and the two still sum to the stretched mixture
    (apart from the clipped 2 % of pixels). No clipping: truth keeps its full range.
    """
    return ((side.astype(np.float32) - np.float32(low / 2)) / np.float32(high - low)).astype(
        np.float32
    )
