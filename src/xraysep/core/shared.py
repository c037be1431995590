"""The shared method: one colour-to-absorption map for both sides, mixed by Beer–Lambert.

Why it separates better than the paper's two branches (measured in ``xraysep benchmark``):

- *One map, order-invariant by construction.* X-ray absorption is a property of the pigment,
  and a pigment looks the same on either side, so the same map ``τ`` turns the front and the
  back photograph into optical depth. Swapping the photographs swaps the outputs exactly;
  there is no slot 1 and slot 2, and nothing to combine from two runs.
- *Colour, not context.* ``τ`` reads one pixel's colour (then a small learned point-spread
  kernel). A deep branch with a 29×29 receptive field can learn to draw the other side's
  edges from its own side's texture to lower the loss; a colour map cannot, which is what
  keeps the crosstalk low.
- *Beer–Lambert mixing.* A radiograph records absorption ``1 − exp(−Σ τ)``, not a sum of
  sides: the mixture is ``x̂ = a + B (1 − exp(−k (τ₁ + τ₂))) / k``, a saturating monotone
  curve that becomes the plain sum as ``k → 0``; each side alone would give
  ``a + B (1 − exp(−k τᵢ)) / k``. The optical depth is kept non-negative (``softplus``): a
  map free to go negative fits the mixture better and separates worse, cancelling one
  side's structure with the other's.

The colour map is ``τ(y) = psf * softplus(Σₖ wₖ φₖ(y) + b)`` with Gaussian bumps
``φₖ(y) = exp(−|y − cₖ|² / 2s²)`` around the panel's palette ``cₖ``: ``palette`` colours
found by k-means in both photographs, ``s`` the median distance between neighbouring palette
colours. An ensemble of ``members`` maps, each with a palette from its own seed, is trained at
once (independent parameters, one loss); the separation is their mean and the uncertainty
their spread. The receptive field is the point-spread radius, so tiled inference is exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from torch import nn
from torch.nn import functional

from xraysep.core.separator import PHOTOGRAPH, Channels

PALETTE_SAMPLE = 20_000  # pixels k-means sees per member: plenty for a few dozen colours


@dataclass(frozen=True)
class SharedConfig:
    """Shape of the shared model; stored beside the weights so a model file is self-describing."""

    palette: int = 32  # colours (Gaussian bumps) per member
    psf: int = 2  # radius of the point-spread kernel, in pixels
    members: int = 3  # ensemble size: the spread between members is the uncertainty

    @classmethod
    def from_params(cls, section: dict) -> SharedConfig:
        return cls(int(section["palette"]), int(section["psf"]), int(section["members"]))

    @property
    def radius(self) -> int:
        return self.psf

    def to_dict(self) -> dict:
        return asdict(self)


def palette(colours: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, float]:
    """``size`` palette colours of (n, 3) pixel colours by k-means, and the bump width: the
    median distance from a palette colour to its nearest neighbour in the palette."""
    rng = np.random.default_rng(seed)
    sample = colours[rng.choice(len(colours), min(PALETTE_SAMPLE, len(colours)), replace=False)]
    centres, _ = kmeans2(sample.astype(np.float64), size, seed=rng, minit="++")
    distance = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    return centres.astype(np.float32), float(max(np.median(distance.min(axis=1)), 1e-3))


class Absorption(nn.Module):
    """RGB (N, 3, H, W) in [0, 1] -> optical depth τ ≥ 0 (N, 1, H, W)."""

    def __init__(self, palette_size: int, psf: int) -> None:
        super().__init__()
        self.register_buffer("centres", torch.zeros(palette_size, 3))
        self.register_buffer("width", torch.tensor(0.1))
        self.weights = nn.Conv2d(palette_size, 1, 1)
        nn.init.zeros_(self.weights.weight)
        nn.init.zeros_(self.weights.bias)
        self.psf = psf
        logits = torch.full((2 * psf + 1, 2 * psf + 1), -4.0)
        logits[psf, psf] = 0.0  # starts close to no blur
        self.psf_logits = nn.Parameter(logits)

    def bumps(self, rgb: torch.Tensor) -> torch.Tensor:
        """φₖ for every pixel: |y − c|² = |y|² − 2 c·y + |c|², the cross term one 1×1
        convolution, so each step makes few passes over the (N, K, H, W) bumps."""
        c, scale = self.centres, 1 / (2 * self.width**2)
        logits = functional.conv2d(rgb, (2 * scale * c)[:, :, None, None], -scale * (c * c).sum(1))
        return torch.exp(logits - scale * (rgb * rgb).sum(1, keepdim=True))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        depth = functional.softplus(self.weights(self.bumps(rgb)))
        kernel = self.psf_logits.flatten().softmax(0).view(1, 1, *self.psf_logits.shape)
        return functional.conv2d(depth, kernel, padding=self.psf)


class BeerLambert(nn.Module):
    """Optical depth -> X-ray grey value: ``a + B (1 − exp(−k t)) / k`` with ``B, k > 0``."""

    def __init__(self) -> None:
        super().__init__()
        self.level = nn.Parameter(torch.tensor(0.0))  # a: the grey value of no absorption
        self.gain = nn.Parameter(torch.tensor(0.5413))  # softplus(0.5413) = 1
        self.saturation = nn.Parameter(torch.tensor(-2.0))  # k ≈ 0.13: nearly linear at first

    def forward(self, depth: torch.Tensor) -> torch.Tensor:
        k = functional.softplus(self.saturation) + 1e-3
        return self.level + functional.softplus(self.gain) * (1 - torch.exp(-k * depth)) / k


class Member(nn.Module):
    """One colour map and its mixing curve."""

    def __init__(self, config: SharedConfig) -> None:
        super().__init__()
        self.absorption = Absorption(config.palette, config.psf)
        self.mixing = BeerLambert()


class SharedModel(nn.Module):
    """The ensemble, and its separator (``core.separator``).

    ``forward(first, second)`` gives each member's mixture prediction (M, N, 1, H, W), for
    training; ``alone(rgb)`` what each member says one side alone gives (M, N, 1, H, W), less
    the member's offset (set by combine, :meth:`set_offsets`). The separation is the members'
    mean, the uncertainty their spread.
    """

    method = "shared"
    approaches = ("shared",)
    needs_xray = False

    def __init__(self, config: SharedConfig) -> None:
        super().__init__()
        self.config = config
        self.members = nn.ModuleList([Member(config) for _ in range(config.members)])
        self.register_buffer("offsets", torch.zeros(config.members))

    @property
    def halo(self) -> int:
        return self.config.radius

    def init_palettes(self, front: np.ndarray, back: np.ndarray, seed: int) -> None:
        """Give member ``m`` the palette k-means finds from seed ``seed + m``."""
        colours = np.concatenate([front.reshape(-1, 3), back.reshape(-1, 3)])
        for index, member in enumerate(self.members):
            centres, width = palette(colours, self.config.palette, seed + index)
            member.absorption.centres.copy_(torch.from_numpy(centres))
            member.absorption.width.fill_(width)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        both = torch.cat([first, second])
        predictions = []
        for member in self.members:
            depth = member.absorption(both)
            predictions.append(member.mixing(depth[: len(first)] + depth[len(first) :]))
        return torch.stack(predictions)

    def alone(self, rgb: torch.Tensor) -> torch.Tensor:
        each = [member.mixing(member.absorption(rgb)) for member in self.members]
        return torch.stack(each) - self.offsets[:, None, None, None, None]

    def set_offsets(self, front: torch.Tensor, back: torch.Tensor, xray: torch.Tensor) -> None:
        """The offset rule: each member gives both sides the same offset (one map, one
        background level), chosen so that the pair's mean equals the mixture's mean."""
        self.offsets.zero_()
        total = self.alone(front).mean((1, 2, 3, 4)) + self.alone(back).mean((1, 2, 3, 4))
        self.offsets.copy_((total - xray.mean()) / 2)

    def sides(self, approach: str | None = None) -> dict[str, nn.Module]:
        return {side: Channels(_Mean(self), PHOTOGRAPH[side]) for side in ("front", "back")}

    def spread(self) -> nn.Module:
        return _Spread(self)


class _Mean(nn.Module):
    """The ensemble's estimate of one side: the members' mean."""

    def __init__(self, model: SharedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.model.alone(rgb).mean(0)


class _Spread(nn.Module):
    """Per-pixel uncertainty: the members' standard deviation, averaged over both sides."""

    def __init__(self, model: SharedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        each = [self.model.alone(stack[:, PHOTOGRAPH[side]]) for side in ("front", "back")]
        return sum(alone.std(0, correction=0) for alone in each) / 2


def shared_loss(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Every member's Beer–Lambert mixture must match the X-ray (mean over members)."""
    predictions = model(batch[:, :3], batch[:, 3:6])
    return functional.mse_loss(predictions.float(), batch[None, :, 6:].expand_as(predictions))
