"""Tiled inference equals whole-image inference (the receptive-field halo makes it exact)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xraysep.core.inference import predict, run
from xraysep.core.network import Branch, NetConfig


@pytest.mark.parametrize("tile", [16, 23, 64])
def test_tiled_equals_whole(tile):
    torch.manual_seed(0)
    config = NetConfig(channels=(6, 6, 8, 1), kernel=5)
    branch = Branch(config)
    # give batch norm non-trivial running statistics, as after training
    branch.train()
    with torch.no_grad():
        branch(torch.rand(4, 3, 32, 32) * 2)
    rgb = np.random.default_rng(0).random((70, 53, 3), dtype=np.float32)
    cpu = torch.device("cpu")
    whole = run(branch, rgb, cpu)
    tiled = predict(branch, rgb, halo=config.radius, tile=tile, device=cpu)
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=0)


def test_halo_too_small_differs():
    torch.manual_seed(0)
    config = NetConfig(channels=(6, 6, 1), kernel=5)
    branch = Branch(config)
    rgb = np.random.default_rng(1).random((40, 40, 3), dtype=np.float32)
    cpu = torch.device("cpu")
    short = predict(branch, rgb, halo=config.radius - 2, tile=16, device=cpu)
    assert np.abs(short - run(branch, rgb, cpu)).max() > 1e-4
