"""Multiscale pyramids: the size of each level and the 2× mean that makes it from the one above.

Viewers open a gigapixel result at any zoom by reading the level that matches the screen,
never the full resolution (docs/design.md, The results store). Each level halves the one above
(rounding up), until the longer side fits one ``tile``; a level's pixel is the mean of the 2×2
block above it, an odd last row or column averaged with itself, so a level made block by block
from windows at even offsets equals the level made from the whole image.
"""

from __future__ import annotations

import numpy as np

TILE = 512


def level_sizes(size: tuple[int, int], tile: int = TILE) -> list[tuple[int, int]]:
    """(H, W) of every level, full resolution first, halving until the longer side is at most
    ``tile``."""
    sizes = [tuple(size)]
    while max(sizes[-1]) > tile:
        height, width = sizes[-1]
        sizes.append((-(-height // 2), -(-width // 2)))
    return sizes


def halve(block: np.ndarray) -> np.ndarray:
    """The next level of ``block`` (…, h, w): the mean of each 2×2 block of its last two axes,
    an odd last row or column repeated; integers are rounded back to their type (a level
    keeps its image's type, so a viewer shows every level on one scale)."""
    height, width = block.shape[-2:]
    pad = [(0, 0)] * (block.ndim - 2) + [(0, height % 2), (0, width % 2)]
    even = np.pad(block, pad, mode="edge") if height % 2 or width % 2 else block
    mean = even[..., 0::2, 0::2].astype(np.float32)  # strided adds: numpy's mean over the
    # reshaped 2×2 axes is a slow reduction (docs/performance.md)
    for rows, cols in ((1, 0), (0, 1), (1, 1)):
        mean += even[..., rows::2, cols::2]
    mean *= 0.25
    if np.issubdtype(block.dtype, np.integer):
        return np.rint(mean).astype(block.dtype)
    return mean.astype(block.dtype)
