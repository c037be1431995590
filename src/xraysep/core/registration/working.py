"""The images registration works on: the X-ray and the photographs brought to one pixel size.

Registration runs on copies whose longer side is at most ``working_size`` (a gigapixel scan
has far more pixels than an affine map needs) and whose pixels cover about the same area of
the panel in every image, so that SimpleITK's pyramid, which shrinks both images by the same
factor, compares like with like at every level. Reduction averages whole blocks of ``k × k``
pixels, a band of rows at a time (bounded memory on gigapixel inputs); a photograph coarser
than the X-ray is enlarged by an integer factor instead. Either way the copy's pixel ``j``
lies at ``spacing × j + origin`` in the original's pixels, on both axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xraysep.core.registration.mapping import Affine
from xraysep.core.registration.resample import resample

LUMINANCE = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec. 709 weights of R, G, B
BAND = 1024  # rows of reduced output averaged at a time, at most
BAND_PIXELS = 1 << 24  # and at most this many pixels of the original read at a time


@dataclass(frozen=True)
class Working:
    """A float32 copy (H', W'[, C]) of an image, in [0, 1] for integer sources."""

    image: np.ndarray
    spacing: float  # original pixels per copy pixel
    origin: float  # where the copy's pixel 0 lies, in the original's pixels

    def to_original(self) -> Affine:
        """The map from the copy's (x, y) pixels to the original's."""
        return Affine(np.eye(2) * self.spacing, np.full(2, self.origin))


def _unit(array: np.ndarray) -> np.ndarray:
    """Integer images to [0, 1] by their type's maximum, as float32."""
    top = np.iinfo(array.dtype).max if np.issubdtype(array.dtype, np.integer) else 1
    return array.astype(np.float32) / np.float32(top)


def shrink(image: np.ndarray, k: int) -> Working:
    """The mean of each whole ``k × k`` block (rows and columns left over are dropped)."""
    h, w = image.shape[0] // k, image.shape[1] // k
    out = np.empty((h, w, *image.shape[2:]), np.float32)
    step = max(1, min(BAND, BAND_PIXELS // (k * k * max(w, 1))))
    for row in range(0, h, step):
        rows = min(step, h - row)
        band = _unit(np.asarray(image[row * k : (row + rows) * k, : w * k]))
        out[row : row + rows] = band.reshape(rows, k, w, k, *image.shape[2:]).mean(axis=(1, 3))
    return Working(out, float(k), (k - 1) / 2)


def enlarge(image: np.ndarray, u: int) -> Working:
    """Bilinearly interpolated on a grid ``u`` times finer, centred on the original's."""
    origin = -(u - 1) / (2 * u)
    grid = Affine(np.eye(2) / u, np.full(2, origin))
    shape = (image.shape[0] * u, image.shape[1] * u)
    whole = np.asarray(image[:, :])
    source = whole if whole.ndim == 3 else whole[..., None]
    fine = resample(_unit(source), grid, shape, order=1, block=BAND)
    return Working(fine if image.ndim == 3 else fine[..., 0], 1 / u, origin)


def working(image: np.ndarray, spacing: float) -> Working:
    """``image`` at about ``spacing`` original pixels per copy pixel: shrunk by the nearest
    whole factor, enlarged by one when ``spacing`` is under 2/3, else as it is."""
    if spacing >= 1.5:
        return shrink(image, round(spacing))
    if spacing <= 2 / 3:
        return enlarge(image, round(1 / spacing))
    return Working(_unit(np.asarray(image[:, :])), 1.0, 0.0)


def xray_spacing(shape: tuple[int, int], working_size: int) -> int:
    """The whole factor that brings the longer side of ``shape`` to ``working_size`` or less."""
    return max(1, math.ceil(max(shape) / working_size))
