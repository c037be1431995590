"""Local filters that several methods share, exact under tiled inference."""

from __future__ import annotations

import torch
from torch.nn import functional


def box_mean(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)² window, counting only pixels inside the image (exact when tiled).

    Separable: a column mean then a row mean (the window's pixels inside the image form a
    rectangle, so the mean of means is the mean), 2(2r+1) reads a pixel instead of (2r+1)²."""
    size = 2 * radius + 1
    columns = functional.avg_pool2d(image, (size, 1), 1, (radius, 0), count_include_pad=False)
    return functional.avg_pool2d(columns, (1, size), 1, (0, radius), count_include_pad=False)
