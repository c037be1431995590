"""Unrolled learned convolutional ISTA with coupled shrinkage, after Pu, Huang et al.
(docs/methods.md, Unrolled learned ISTA).

The published network separates a mixed X-ray into a visible side and a concealed design,
with one photograph. Here both components are sides with photographs, and every step
treats them alike with the same weights (swapping the photographs swaps the outputs). Each
of ``layers`` unrolled layers, with its own weights, updates both sides' X-ray estimates
``u₁, u₂`` (started at ``x / 2``) and their sparse codes ``z₁, z₂``:

1. gradient steps on the mixture and on the photograph: ``r = x − u₁ − u₂``, then
   ``v_i = u_i + Γ * r + Θ₁ * (y_i − Θ₂ * u_i)``;
2. a learned ISTA step on the code, ``z_i ← S_λ(z_i + Φ₁ * (v_i − Φ₂ * z_i))``, and
   ``u_i = v_i + α (Φ₂ * z_i − v_i)``, a learned pull towards what the code explains;
3. the coupled shrinkage: each side's Haar detail coefficients (undecimated, one level) are
   soft-thresholded by ``τ`` times the magnitude of the *other* side's, so an edge is
   kept where one side has it and shrunk where both do.

Each side's X-ray is ``R * u_i``; a linear map ``P`` rebuilds its photograph for the loss.
All convolutions are ``k×k``; the receptive field is finite, so tiled inference is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional

from xraysep.core.inference import once
from xraysep.core.separator import BACK, FRONT, XRAY
from xraysep.core.sparse import adjoint, channel_thresholds, lipschitz, soft_threshold
from xraysep.settings import Lista

ALL = slice(None)  # both photographs and the X-ray: the sides are computed together
RGB = 3
INITIAL_SCALE = 0.1  # the photograph's convolutions start small: the first steps follow the mixture


@dataclass(frozen=True)
class ListaConfig:
    """Shape of the unrolled network; stored beside the weights so a model file is
    self-describing. No defaults: the values come from ``params.yaml: lista`` (or a file)."""

    width: int  # channels of each side's sparse code
    layers: int  # unrolled layers, each with its own weights
    kernel: int  # side of every convolution

    @classmethod
    def from_settings(cls, section: Lista) -> ListaConfig:
        return cls(section.width, section.layers, section.kernel)

    @classmethod
    def from_dict(cls, values: dict) -> ListaConfig:
        """The inverse of :meth:`to_dict`."""
        return cls(**values)

    @property
    def radius(self) -> int:
        """Receptive-field radius of a side's X-ray: per layer two convolutions to ``v``, two
        more through the code and one pixel of Haar; then ``R``."""
        r = self.kernel // 2
        return self.layers * (4 * r + 1) + r

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(inputs: int, outputs: int, kernel: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2, bias=bias)


def _delta(conv: nn.Conv2d, value: float) -> None:
    """Make a one-channel convolution ``value`` times the identity."""
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, conv.kernel_size[0] // 2, conv.kernel_size[1] // 2] = value


# the three detail filters of the orthonormal 2×2 Haar basis, (3, 1, 2, 2)
DETAILS = [
    [[1.0, 1.0], [-1.0, -1.0]],  # horizontal edges
    [[1.0, -1.0], [1.0, -1.0]],  # vertical edges
    [[1.0, -1.0], [-1.0, 1.0]],  # diagonals
]
HAAR = torch.tensor(DETAILS).unsqueeze(1) / 2


def haar_details(image: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) -> the undecimated Haar details (N, 3, H, W), zero beyond the image."""
    return functional.conv2d(functional.pad(image, (0, 1, 0, 1)), HAAR.to(image))


def haar_adjoint(details: torch.Tensor) -> torch.Tensor:
    """The adjoint of :func:`haar_details`: (N, 3, H, W) -> (N, 1, H, W). With the
    approximation band, the four filters make a tight frame of bound 4 (``AᵀA = 4 I``)."""
    full = functional.conv_transpose2d(details, HAAR.to(details))
    return full[..., : details.shape[-2], : details.shape[-1]]


class Layer(nn.Module):
    """One unrolled layer: both sides' estimates and codes, updated alike."""

    def __init__(self, config: ListaConfig) -> None:
        super().__init__()
        k = config.kernel
        self.mixture = _conv(1, 1, k)  # Γ
        self.photo_in, self.photo_out = _conv(RGB, 1, k), _conv(1, RGB, k)  # Θ₁, Θ₂
        self.encode, self.decode = _conv(1, config.width, k), _conv(config.width, 1, k)  # Φ₁, Φ₂
        self.thresholds = nn.Parameter(torch.full((config.width,), -4.0))  # λ
        self.pull = nn.Parameter(torch.tensor(0.0))  # α = sigmoid: a half step at first
        self.coupling = nn.Parameter(torch.full((3,), -1.0))  # τ per Haar band
        _delta(self.mixture, 0.5)  # the sides share the mixture's residual equally
        with torch.no_grad():
            self.photo_in.weight.mul_(INITIAL_SCALE)
            self.photo_out.weight.mul_(INITIAL_SCALE)
            self.encode.weight.copy_(adjoint(self.decode.weight) / lipschitz(self.decode))

    def forward(
        self, xray: torch.Tensor, photos: torch.Tensor, u: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One layer on both sides at once: ``photos``, ``u``, ``z`` hold side 1's batch
        then side 2's, (2N, c, H, W); ``xray`` is (N, 1, H, W)."""
        n = len(xray)
        residual = self.mixture(xray - u[:n] - u[n:]).repeat(2, 1, 1, 1)
        v = u + residual + self.photo_in(photos - self.photo_out(u))
        z = soft_threshold(z + self.encode(v - self.decode(z)), channel_thresholds(self.thresholds))
        u = v + torch.sigmoid(self.pull) * (self.decode(z) - v)
        details = haar_details(u)
        other = torch.cat([details[n:], details[:n]])
        coupling = functional.softplus(self.coupling).view(1, -1, 1, 1)
        shrunk = soft_threshold(details, coupling * other.abs())
        return u - haar_adjoint(details - shrunk) / 4, z


class CoupledLista(nn.Module):
    """The unrolled network, and its separator (``core.separator``): both sides from the
    two photographs and the mixed X-ray, in one pass."""

    KIND = "lista"
    method = "lista"
    approaches = ("lista",)
    needs_xray = True

    def __init__(self, config: ListaConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList([Layer(config) for _ in range(config.layers)])
        self.output = _conv(1, 1, config.kernel)  # R
        self.photograph = _conv(1, RGB, config.kernel, bias=True)  # P
        _delta(self.output, 1.0)
        self.passes = _Pair(self.pair)

    def to_config(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict) -> CoupledLista:
        return cls(ListaConfig.from_dict(config))

    @property
    def halo(self) -> int:
        return self.config.radius

    def forward(
        self, front: torch.Tensor, back: torch.Tensor, xray: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each side's X-ray (2N, 1, H, W), front batch then back, and each side's
        photograph rebuilt from it (2N, 3, H, W)."""
        photos = torch.cat([front, back])
        u = (xray / 2).repeat(2, 1, 1, 1)
        z = u.new_zeros(len(photos), self.config.width, *u.shape[-2:])
        for layer in self.layers:
            u, z = layer(xray, photos, u, z)
        sides = self.output(u)
        return sides, self.photograph(sides)

    def pair(self, stack: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (front, back) X-rays of a separator's (N, 7, h, w) stack."""
        sides, _ = self(stack[:, FRONT], stack[:, BACK], stack[:, XRAY])
        return sides[: len(stack)], sides[len(stack) :]

    def sides(self, approach: str | None = None) -> dict[str, nn.Module]:
        return {side: _Side(self.passes, index) for index, side in enumerate(("front", "back"))}

    def spread(self) -> None:
        return None


class _Pair(nn.Module):
    """:meth:`CoupledLista.pair` as a module, so that ``once`` runs it a single time per tile
    for both sides; it holds the method, not the model, so it adds nothing to the state."""

    def __init__(self, pair: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]):
        super().__init__()
        self.pair = pair

    def forward(self, stack: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pair(stack)


class _Side(nn.Module):
    """One side (``index`` 0: front, 1: back) of the joint pass."""

    def __init__(self, passes: _Pair, index: int) -> None:
        super().__init__()
        self.passes, self.index = passes, index

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        return once(self.passes, stack, ALL)[self.index]
