"""Training samples for crop training: large random crops, or the whole image when it fits.

The paper's 64×64 patches at stride 12 make every pixel pass through the network about 28
times per sweep of the grid, and a 64×64 patch is mostly border for a network whose receptive
field is 29×29. Large crops give each step many more useful pixels for the same arithmetic.
Crops come from a *reader* ``(rows, cols) -> (7, h, w)`` tensor, so they can be cut from an
in-memory stack or read straight from the zarr store when the panel does not fit in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xraysep.core.training import Reader


class CropSampler:
    """Endless minibatches of random ``crop``×``crop`` windows (clipped to the image), seeded.

    When one crop covers the whole image every batch is that image: one tensor, read once,
    so a model can keep what it computes from it (the shared map's bumps).
    """

    def __init__(
        self, read: Reader, shape: tuple[int, int], crop: int, batch_size: int, seed: int
    ) -> None:
        self.read, self.shape = read, shape
        self.size = (min(crop, shape[0]), min(crop, shape[1]))
        self.covers = self.size == tuple(shape)
        self.batch_size = 1 if self.covers else batch_size
        self.steps_per_iteration = 1
        self.rng = np.random.default_rng(seed)
        self.whole: torch.Tensor | None = None

    def next_origins(self) -> np.ndarray:
        high = (self.shape[0] - self.size[0] + 1, self.shape[1] - self.size[1] + 1)
        return np.stack([self.rng.integers(0, h, self.batch_size) for h in high], axis=-1)

    def next(self) -> torch.Tensor:
        (h, w) = self.size
        if self.covers:
            if self.whole is None:
                self.whole = self.read(slice(0, h), slice(0, w))[None]
            return self.whole
        return torch.stack(
            [self.read(slice(y, y + h), slice(x, x + w)) for y, x in self.next_origins().tolist()]
        )

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
