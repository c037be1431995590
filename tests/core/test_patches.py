"""Training samples: the paper's 64×64 patch grid at stride 12, and random crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xraysep.core.crops import CropSampler
from xraysep.core.patches import PatchSampler, patch_origins
from xraysep.core.training import stack_reader
from xraysep.errors import InputError


def test_grid_size_matches_the_paper():
    # the paper: 3168 triplets for an 852×630 detail
    assert len(patch_origins((630, 852), 64, 12)) == 3168


def patch_sampler(stack, batch_size, seed):
    return PatchSampler(stack_reader(stack), tuple(stack.shape[1:]), 64, 12, batch_size, seed)


def test_patches_are_the_right_windows():
    stack = torch.arange(7 * 100 * 90, dtype=torch.float32).reshape(7, 100, 90)
    origins = patch_sampler(stack, 4, seed=0).next_origins()
    batch = patch_sampler(stack, 4, seed=0).next()
    assert batch.shape == (4, 7, 64, 64)
    for (y, x), patch in zip(origins, batch, strict=True):
        assert torch.equal(patch, stack[:, y : y + 64, x : x + 64])
        assert y + 64 <= 100 and x + 64 <= 90 and y % 12 == 0 and x % 12 == 0


def test_an_iteration_is_one_pass_over_the_grid():
    sampler = patch_sampler(torch.zeros(7, 100, 100), 4, seed=0)
    assert len(sampler.origins) == 16 and sampler.steps_per_iteration == 4
    seen = np.concatenate([sampler.next_origins() for _ in range(4)])
    assert len({tuple(o) for o in seen}) == 16  # one pass: every patch once
    paper_grid = PatchSampler(stack_reader(torch.zeros(7, 630, 852)), (630, 852), 64, 12, 16, 0)
    assert paper_grid.steps_per_iteration == 198  # 3168 triplets in steps of 16


@pytest.mark.parametrize("make", [
    lambda stack, seed: patch_sampler(stack, 5, seed),
    lambda stack, seed: CropSampler(stack_reader(stack), (100, 100), 40, 3, seed),
], ids=["patches", "crops"])  # fmt: skip
def test_sampler_state_round_trip_continues_the_same_batches(make):
    stack = torch.rand(7, 100, 100)
    first = make(stack, 3)
    for _ in range(3):
        first.next()
    second = make(stack, 99)
    second.load_state_dict(first.state_dict())
    for _ in range(4):
        assert torch.equal(first.next(), second.next())


def test_crops_cover_the_image_and_stay_inside():
    stack = torch.rand(7, 90, 70)
    sampler = CropSampler(stack_reader(stack), (90, 70), 64, 4, seed=1)
    origins = np.concatenate([sampler.next_origins() for _ in range(200)])
    assert origins[:, 0].max() == 90 - 64 and origins[:, 1].max() == 70 - 64
    assert origins.min() == 0
    assert sampler.next().shape == (4, 7, 64, 64)


def test_whole_image_when_the_crop_covers_it():
    stack = torch.rand(7, 48, 40)
    sampler = CropSampler(stack_reader(stack), (48, 40), 256, 8, seed=0)
    batch = sampler.next()
    assert batch.shape == (1, 7, 48, 40) and torch.equal(batch[0], stack)
    assert sampler.next() is batch  # read once: a model may keep what it computed from it


def test_too_small_panel_is_refused():
    with pytest.raises(InputError, match="smaller than one 64×64 patch"):
        patch_origins((40, 100), 64, 12)
