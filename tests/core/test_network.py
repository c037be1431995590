"""The paper's network, exactly, and the presets built from params.yaml
(docs/methods.md, The paper's method)."""

from __future__ import annotations

import torch
from torch import nn

from xraysep import config
from xraysep.core.methods.paper.network import NetConfig, TwoBranchNet, conv_macs_per_pixel
from xraysep.core.training import parameter_count


def test_paper_preset_is_the_papers_network(project):
    net = TwoBranchNet(NetConfig.from_preset(config.preset("paper")))
    for branch in net.branches:
        layers = list(branch)
        convs = [m for m in layers if isinstance(m, nn.Conv2d)]
        assert [c.out_channels for c in convs] == [128, 128, 128, 256, 256, 256, 1]
        assert [c.in_channels for c in convs] == [3, 128, 128, 128, 256, 256, 256]
        assert all(c.kernel_size == (5, 5) and c.stride == (1, 1) for c in convs)
        assert all(c.padding == (2, 2) for c in convs)  # same padding
        # BN + ReLU between convolutions, nothing after the last one
        assert [type(m).__name__ for m in layers] == ["Conv2d", "BatchNorm2d", "ReLU"] * 6 + [
            "Conv2d"
        ]
    # conv weights + biases + BN affine parameters: 4 934 657 per branch
    assert parameter_count(net.branches[0]) == 4_934_657
    assert parameter_count(net) == 9_869_314
    assert conv_macs_per_pixel(net.config) == 4_931_200
    assert net.config.radius == 14


def test_paper_protocol_values(project):
    paper = config.preset("paper")
    assert (paper.patch, paper.stride, paper.iterations) == (64, 12, 300)


def test_fast_preset_has_the_same_structure_narrower(project):
    paper = NetConfig.from_preset(config.preset("paper"))
    fast = NetConfig.from_preset(config.preset("fast"))
    assert len(fast.channels) == len(paper.channels) and fast.kernel == paper.kernel
    assert fast.channels[-1] == 1 and all(
        f < p for f, p in zip(fast.channels[:-1], paper.channels, strict=False)
    )
    assert conv_macs_per_pixel(fast) * 50 < conv_macs_per_pixel(paper)


def test_output_has_the_inputs_resolution():
    net = TwoBranchNet(NetConfig(channels=(4, 4, 1), kernel=5)).eval()
    first, second = net(torch.rand(2, 3, 37, 21), torch.rand(2, 3, 37, 21))
    assert first.shape == second.shape == (2, 1, 37, 21)
