"""The networks of the paper: a branch maps RGB to X-ray; a net holds two branches
(docs/methods.md, The paper's method).

Each branch is a plain stack of ``k×k`` convolutions, stride 1, same padding, with batch
normalisation and ReLU between convolutions and a linear last layer, so the output has the
input's resolution and any pixel depends only on a ``(2r+1)²`` neighbourhood with
``r = layers · (k // 2)``. That finite receptive field is what makes tiled inference exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from xraysep.settings import Preset


@dataclass(frozen=True)
class NetConfig:
    """Architecture of one branch; stored beside the weights so a model file is self-describing.
    Widths and kernel come from a preset of ``params.yaml`` (or a model file) only."""

    channels: tuple[int, ...]
    kernel: int
    in_channels: int = 3  # RGB

    @classmethod
    def from_preset(cls, preset: Preset) -> NetConfig:
        return cls(channels=tuple(preset.channels), kernel=preset.kernel)

    @classmethod
    def from_dict(cls, values: dict) -> NetConfig:
        """The inverse of :meth:`to_dict`."""
        return cls(channels=tuple(values["channels"]), kernel=int(values["kernel"]))

    @property
    def radius(self) -> int:
        """Receptive-field radius in pixels: the halo a tile needs for exact inference."""
        return len(self.channels) * (self.kernel // 2)

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}


class Branch(nn.Sequential):
    """RGB (N, 3, H, W) in [0, 1] -> X-ray (N, 1, H, W)."""

    def __init__(self, config: NetConfig) -> None:
        layers: list[nn.Module] = []
        width = config.in_channels
        for i, out in enumerate(config.channels):
            layers.append(nn.Conv2d(width, out, config.kernel, padding=config.kernel // 2))
            if i < len(config.channels) - 1:
                layers += [nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            width = out
        super().__init__(*layers)


class TwoBranchNet(nn.Module):
    """The paper's model for one input ordering: ``out_i = branch_i(input_i)``.

    Slot 1 and slot 2 are trained jointly so that ``out_1 + out_2`` reconstructs the mixed
    X-ray; which photograph goes to which slot is the ordering (``12`` or ``21``).
    """

    KIND = "two-branch"

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        self.branches = nn.ModuleList([Branch(config), Branch(config)])

    def to_config(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict) -> TwoBranchNet:
        return cls(NetConfig.from_dict(config))

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.branches[0](first), self.branches[1](second)


def conv_macs_per_pixel(config: NetConfig) -> int:
    """Multiply-accumulates per output pixel of one branch, for FLOP accounting."""
    widths: Sequence[int] = (config.in_channels, *config.channels)
    return sum(a * b * config.kernel**2 for a, b in itertools.pairwise(widths))
