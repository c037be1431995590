"""A photograph resampled into the X-ray's pixel grid, block by block.

Each output block of ``block``² pixels reads only the window of the photograph it maps
from (plus a margin for the interpolation), so the float copies stay small whatever the
sizes. Interpolation is scipy's spline of ``order`` 1 (bilinear) or 3 (cubic); where the
X-ray reaches beyond the photograph, the photograph's edge pixels are repeated. The result
keeps the photograph's type; integers are rounded and clipped to their range.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import affine_transform

from xraysep.core.registration.mapping import Affine, grid

MARGIN = 8  # photograph pixels read around each block's window: the cubic prefilter's reach


def _rows_cols(mapping: Affine) -> tuple[np.ndarray, np.ndarray]:
    """The map in scipy's (row, column) order."""
    swap = np.array([[0, 1], [1, 0]])
    return swap @ mapping.matrix @ swap, mapping.offset[::-1]


def resample(
    photo: np.ndarray, mapping: Affine, shape: tuple[int, int], order: int, block: int
) -> np.ndarray:
    """The (H, W, C) ``photo`` on the (H, W) ``shape`` grid; ``mapping`` sends output (x, y)
    pixels to ``photo`` (x, y) pixels."""
    return resample_region(photo, mapping, (0, shape[0]), (0, shape[1]), order, block)


def resample_region(
    photo: np.ndarray,
    mapping: Affine,
    rows: tuple[int, int],
    cols: tuple[int, int],
    order: int,
    block: int,
) -> np.ndarray:
    """The output rows × cols (start, stop) of :func:`resample`, in pieces of at most
    ``block``² pixels (:func:`resample_window` each)."""
    out = np.empty((rows[1] - rows[0], cols[1] - cols[0], photo.shape[2]), photo.dtype)
    for top in range(*rows, block):
        for left in range(*cols, block):
            piece = (top, min(top + block, rows[1])), (left, min(left + block, cols[1]))
            out[
                piece[0][0] - rows[0] : piece[0][1] - rows[0],
                piece[1][0] - cols[0] : piece[1][1] - cols[0],
            ] = resample_window(photo, mapping, *piece, order)
    return out


def resample_window(
    photo: np.ndarray,
    mapping: Affine,
    rows: tuple[int, int],
    cols: tuple[int, int],
    order: int,
) -> np.ndarray:
    """The output window ``rows`` × ``cols`` (start, stop) of :func:`resample`, read from
    only the part of ``photo`` (anything sliced by two slices: a zarr array, a source) that
    it maps from, plus ``MARGIN``."""
    matrix, offset = _rows_cols(mapping)
    (r0, r1), (c0, c1) = rows, cols
    integer = np.issubdtype(photo.dtype, np.integer)
    top = np.iinfo(photo.dtype).max if integer else None
    corners = np.array([[r, c] for r in (r0, r1 - 1) for c in (c0, c1 - 1)], float)
    reach = corners @ matrix.T + offset
    size = np.array(photo.shape[:2])
    low = np.clip(np.floor(reach.min(0)).astype(int) - MARGIN, 0, size - 1)
    high = np.clip(np.ceil(reach.max(0)).astype(int) + MARGIN + 1, low + 1, size)
    window = np.asarray(photo[low[0] : high[0], low[1] : high[1]])
    start = matrix @ np.array([r0, c0], float) + offset - low
    out = np.empty((r1 - r0, c1 - c0, photo.shape[2]), photo.dtype)
    for channel in range(photo.shape[2]):
        values = affine_transform(
            window[..., channel].astype(np.float32),
            matrix,
            start,
            output_shape=(r1 - r0, c1 - c0),
            order=order,
            mode="nearest",
        )
        out[..., channel] = np.clip(np.rint(values), 0, top) if integer else values
    return out


def _inside(points: np.ndarray, source_shape: tuple[int, ...]) -> np.ndarray:
    """Which (N, 2) (x, y) points fall on an image of ``source_shape``."""
    x, y = points.T
    return (x >= -0.5) & (x <= source_shape[1] - 0.5) & (y >= -0.5) & (y <= source_shape[0] - 0.5)


def covered(mapping: Affine, shape: tuple[int, int], source_shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: which pixels of the ``shape`` grid ``mapping`` sends onto an image of
    ``source_shape``."""
    rows, cols = np.indices(shape, np.float32)
    points = mapping(np.column_stack([cols.ravel(), rows.ravel()]))
    return _inside(points, source_shape).reshape(shape)


def coverage(mapping: Affine, shape: tuple[int, int], photo_shape: tuple[int, ...]) -> float:
    """The fraction of the X-ray (``shape``) that the photograph covers, on a 256² grid."""
    return float(_inside(mapping(grid(shape, 256)), photo_shape).mean())
