"""The connected auto-encoders of Pu et al. (docs/methods.md, Connected auto-encoders).

Two encoders and two decoders, each shared by both sides:

- ``E_r`` maps a photograph (RGB) to a sparse code, ``E_x`` the mixed X-ray; both are
  convolutional learned ISTA (:class:`Clista`): a few unrolled iterations
  ``z ← S_θ(z + A * (y − B * z))`` with learned ``k×k`` convolutions ``A``, ``B`` and
  learned per-channel thresholds ``θ``.
- ``D_r`` maps a code back to RGB, ``D_x`` to X-ray: one linear ``k×k`` convolution each,
  without bias, so ``D_x(z₁ + z₂) = D_x(z₁) + D_x(z₂)``.

Each side's X-ray is ``D_x(E_r(y_i))``: the code that rebuilds that side's photograph, read
by the X-ray decoder, so a side's X-ray is tied to its own photograph. Every output is a
stack of convolutions with a finite receptive field, so tiled inference is exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from xraysep.core.separator import PHOTOGRAPH, Channels
from xraysep.core.sparse import adjoint, channel_thresholds, lipschitz, soft_threshold
from xraysep.settings import Cae

RGB, GREY = 3, 1


@dataclass(frozen=True)
class CaeConfig:
    """Shape of the auto-encoders; stored beside the weights so a model file is
    self-describing. No defaults: the values come from ``params.yaml: cae`` (or a file)."""

    width: int  # channels of every code
    layers: int  # unrolled ISTA iterations of each encoder
    kernel: int  # side of every convolution

    @classmethod
    def from_settings(cls, section: Cae) -> CaeConfig:
        return cls(section.width, section.layers, section.kernel)

    @classmethod
    def from_dict(cls, values: dict) -> CaeConfig:
        """The inverse of :meth:`to_dict`."""
        return cls(**values)

    @property
    def radius(self) -> int:
        """Receptive-field radius of a side's X-ray: the encoder's first convolution, two per
        unrolled iteration, then the decoder's."""
        return (2 + 2 * self.layers) * (self.kernel // 2)

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(inputs: int, outputs: int, kernel: int) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2, bias=False)


class Clista(nn.Module):
    """Convolutional learned ISTA: image (N, c, H, W) -> sparse code (N, width, H, W).

    ``z₀ = S_θ₀(A * y)``, then ``layers`` times ``z ← S_θₖ(z + A * (y − B * z))``: ISTA for
    ``min ½‖y − B * z‖² + Σ θ|z|`` unrolled, with ``A``, ``B`` and the thresholds learned
    (``A``, ``B`` shared across iterations, as in a recurrent encoder; one threshold per
    channel and iteration). ``A`` starts as ISTA's ``Bᵀ / ‖B‖²``."""

    def __init__(self, channels: int, config: CaeConfig) -> None:
        super().__init__()
        self.analysis = _conv(channels, config.width, config.kernel)
        self.synthesis = _conv(config.width, channels, config.kernel)
        self.thresholds = nn.Parameter(torch.full((config.layers + 1, config.width), -3.0))
        self.layers = config.layers
        with torch.no_grad():
            self.analysis.weight.copy_(adjoint(self.synthesis.weight) / lipschitz(self.synthesis))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        code = soft_threshold(self.analysis(image), channel_thresholds(self.thresholds[0]))
        for step in range(1, self.layers + 1):
            update = code + self.analysis(image - self.synthesis(code))
            code = soft_threshold(update, channel_thresholds(self.thresholds[step]))
        return code


class SideXray(nn.Module):
    """One side's X-ray from its photograph, ``D_x(E_r(y))``: (N, 3, H, W) -> (N, 1, H, W).
    It holds the model's modules without adding any of its own."""

    def __init__(self, encoder: Clista, decoder: nn.Conv2d) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(rgb))


class ConnectedAutoEncoders(nn.Module):
    """The four networks, and the separator (``core.separator``) that reads each side's
    X-ray from its own photograph alone."""

    KIND = "cae"
    method = "cae"
    approaches = ("cae",)
    needs_xray = False

    def __init__(self, config: CaeConfig) -> None:
        super().__init__()
        self.config = config
        self.rgb_encoder = Clista(RGB, config)
        self.xray_encoder = Clista(GREY, config)
        self.rgb_decoder = _conv(config.width, RGB, config.kernel)
        self.xray_decoder = _conv(config.width, GREY, config.kernel)

    def to_config(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict) -> ConnectedAutoEncoders:
        return cls(CaeConfig.from_dict(config))

    @property
    def halo(self) -> int:
        return self.config.radius

    def forward(
        self, front: torch.Tensor, back: torch.Tensor, xray: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Everything the loss compares: both photographs rebuilt, each side's X-ray, the
        mixed X-ray rebuilt by its own auto-encoder, and the three codes."""
        codes = self.rgb_encoder(torch.cat([front, back]))
        xray_code = self.xray_encoder(xray)
        sides = self.xray_decoder(codes)
        rebuilt = self.rgb_decoder(codes)
        n = len(front)
        return {
            "front": rebuilt[:n],
            "back": rebuilt[n:],
            "front_xray": sides[:n],
            "back_xray": sides[n:],
            "xray": self.xray_decoder(xray_code),
            "codes": codes[:n] + codes[n:],
            "xray_code": xray_code,
        }

    def side(self) -> SideXray:
        return SideXray(self.rgb_encoder, self.xray_decoder)

    def sides(self, approach: str | None = None) -> dict[str, nn.Module]:
        return {name: Channels(self.side(), PHOTOGRAPH[name]) for name in ("front", "back")}

    def spread(self) -> None:
        return None
