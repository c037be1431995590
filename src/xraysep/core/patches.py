"""Training samples: the paper's overlapping patch grid.

The paper cuts 64×64 patch triplets (front, back, X-ray) with stride 12, so neighbouring
patches overlap by 52 pixels: ``floor((H − 64) / 12) + 1`` rows of patches, e.g. 66 × 48 = 3168
for an 852×630 detail. Patches are read by their origins through a reader (an in-memory stack or
the zarr store), so the grid costs nothing until a batch is drawn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from xraysep.core.training import Reader
from xraysep.errors import InputError


def patch_origins(shape: tuple[int, int], patch: int, stride: int) -> np.ndarray:
    """Top-left corners (N, 2) of all patches of the grid, row-major."""
    h, w = shape
    if h < patch or w < patch:
        raise InputError(f"panel of {w}×{h} pixels is smaller than one {patch}×{patch} patch")
    ys = np.arange(0, h - patch + 1, stride)
    xs = np.arange(0, w - patch + 1, stride)
    return np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1).reshape(-1, 2)


class PatchSampler:
    """Endless minibatches of grid patches: shuffled passes over the grid, seeded. One
    iteration is one pass: ``ceil(patches / batch_size)`` steps.

    Its state (the generator and the rest of the current pass) is saved in checkpoints, so
    a resumed run draws exactly the batches an uninterrupted one would have.
    """

    def __init__(
        self,
        read: Reader,
        shape: tuple[int, int],
        patch: int,
        stride: int,
        batch_size: int,
        seed: int,
    ) -> None:
        self.read, self.patch = read, patch
        self.origins = patch_origins(shape, patch, stride)
        self.batch_size = min(batch_size, len(self.origins))
        self.steps_per_iteration = math.ceil(len(self.origins) / self.batch_size)
        self.rng = np.random.default_rng(seed)
        self._order = np.empty(0, dtype=np.int64)

    def next_origins(self) -> np.ndarray:
        if len(self._order) < self.batch_size:
            self._order = np.concatenate([self._order, self.rng.permutation(len(self.origins))])
        batch, self._order = self._order[: self.batch_size], self._order[self.batch_size :]
        return self.origins[batch]

    def next(self) -> torch.Tensor:
        p = self.patch
        return torch.stack(
            [self.read(slice(y, y + p), slice(x, x + p)) for y, x in self.next_origins().tolist()]
        )

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "order": self._order.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._order = np.asarray(state["order"], dtype=np.int64)
