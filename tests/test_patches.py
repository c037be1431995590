"""The paper's patch grid: 64×64 at stride 12."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xraysep.core.patches import PatchSampler, gather, patch_origins
from xraysep.errors import InputError


def test_grid_size_matches_the_paper():
    # the paper: 3168 triplets for an 852×630 detail
    assert len(patch_origins((630, 852), 64, 12)) == 3168


def test_gather_cuts_the_right_windows():
    stack = torch.arange(2 * 100 * 90, dtype=torch.float32).reshape(2, 100, 90)
    origins = patch_origins((100, 90), 64, 12)
    batch = gather(stack, origins[[0, -1]], 64)
    assert batch.shape == (2, 2, 64, 64)
    y, x = origins[-1]
    assert torch.equal(batch[1], stack[:, y : y + 64, x : x + 64])
    assert y + 64 <= 100 and x + 64 <= 90


def test_sampler_visits_every_patch_once_per_pass():
    stack = torch.zeros(7, 100, 100)
    sampler = PatchSampler(stack, patch=64, stride=12, batch_size=4, seed=0)
    seen = np.concatenate([sampler.next_origins() for _ in range(len(sampler.origins) // 4)])
    assert len({tuple(o) for o in seen}) == len(sampler.origins)
    assert sampler.next().shape == (4, 7, 64, 64)


def test_sampler_state_round_trip_continues_the_same_batches():
    stack = torch.rand(7, 100, 100)
    first = PatchSampler(stack, patch=64, stride=12, batch_size=5, seed=3)
    for _ in range(3):
        first.next()
    second = PatchSampler(stack, patch=64, stride=12, batch_size=5, seed=99)
    second.load_state_dict(first.state_dict())
    for _ in range(4):
        assert torch.equal(first.next(), second.next())


def test_too_small_panel_is_refused():
    with pytest.raises(InputError, match="smaller than one 64×64 patch"):
        patch_origins((40, 100), 64, 12)
