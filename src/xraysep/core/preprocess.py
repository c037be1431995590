"""Scaling of inputs into the network's units (docs/design.md, Data model).

RGB goes to [0, 1] by its dtype's range. The mixed X-ray is histogram-stretched: values below
the 1st and above the 99th percentile are clipped and the rest rescaled to [0, 1]. The same
affine map is applied to ground-truth side images, each taking half of the offset, so that
truth and estimates live in the units of the stretched mixture and still sum to it.
"""

from __future__ import annotations

import numpy as np

STRETCH_PERCENTILES = (1.0, 99.0)


def unit_scale(array: np.ndarray) -> np.ndarray:
    """Integer images to float32 in [0, 1] by their dtype's maximum; floats unchanged."""
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)
    return array.astype(np.float32, copy=False)


def stretch_limits(xray: np.ndarray, percentiles: tuple[float, float] = STRETCH_PERCENTILES):
    """The (low, high) grey values at the given percentiles of the X-ray."""
    low, high = np.percentile(xray, percentiles)
    return float(low), float(high)


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
