"""Training samples: the paper's overlapping patch grid.

The paper cuts 64×64 patch triplets (front, back, X-ray) with stride 12, so neighbouring
patches overlap by 52 pixels: ``floor((H − 64) / 12) + 1`` rows of patches, e.g. 66 × 48 = 3168
for an 852×630 detail. Patches are gathered from one (C, H, W) tensor by their origins, so the
grid costs nothing until a batch is drawn.
"""

from __future__ import annotations

import numpy as np
import torch

from xraysep.errors import InputError


def patch_origins(shape: tuple[int, int], patch: int, stride: int) -> np.ndarray:
    """Top-left corners (N, 2) of all patches of the grid, row-major."""
    h, w = shape
    if h < patch or w < patch:
        raise InputError(f"panel of {w}×{h} pixels is smaller than one {patch}×{patch} patch")
    ys = np.arange(0, h - patch + 1, stride)
    xs = np.arange(0, w - patch + 1, stride)
    return np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1).reshape(-1, 2)


def gather(stack: torch.Tensor, origins: np.ndarray, patch: int) -> torch.Tensor:
    """Cut the patches at ``origins`` out of a (C, H, W) tensor -> (N, C, patch, patch)."""
    return torch.stack([stack[:, y : y + patch, x : x + patch] for y, x in origins.tolist()])


class PatchSampler:
    """Endless minibatches of patch origins: shuffled passes over the grid, seeded."""

    def __init__(self, origins: np.ndarray, batch_size: int, seed: int) -> None:
        self.origins = origins
        self.batch_size = min(batch_size, len(origins))
        self.rng = np.random.default_rng(seed)
        self._order = np.empty(0, dtype=np.int64)

    def next(self) -> np.ndarray:
        if len(self._order) < self.batch_size:
            self._order = np.concatenate([self._order, self.rng.permutation(len(self.origins))])
        batch, self._order = self._order[: self.batch_size], self._order[self.batch_size :]
        return self.origins[batch]
