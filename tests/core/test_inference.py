"""Tiled inference equals whole-image inference (the receptive-field halo makes it exact)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xraysep.core.inference import predict, run, run_all
from xraysep.core.methods.paper.combined import CombinedModel
from xraysep.core.methods.paper.network import Branch, NetConfig
from xraysep.core.separator import stack
from xraysep.jobs.separate import outputs


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


@pytest.mark.parametrize(("rule", "passes"), [("paper", 4), ("consistent", 4)])
def test_outputs_share_their_network_passes(rule, passes):
    """Front, back, hidden layer and uncertainty on one tile run each slot once (separately:
    8 and 16 passes, the hidden layer needing both sides), with the same values as run one by
    one."""
    torch.manual_seed(0)
    model = CombinedModel(NetConfig(channels=(4, 4, 1), kernel=3), rule=rule).eval()
    calls = []
    for order in ("12", "21"):
        for slot in (1, 2):
            model.branch(order, slot).register_forward_hook(lambda *_: calls.append(1))
    modules = list(outputs(model).values())
    rng = np.random.default_rng(0)
    photographs = stack(*(rng.random((24, 20, 3), dtype=np.float32) for _ in "fb"))
    cpu = torch.device("cpu")
    together = run_all(modules, photographs, cpu)
    assert len(calls) == passes
    alone = [run(module, photographs, cpu) for module in modules]
    assert len(calls) == passes + {"paper": 8, "consistent": 16}[rule]
    np.testing.assert_array_equal(together, np.stack(alone))
