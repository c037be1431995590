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
- *A robust loss.* The X-ray holds content no colour explains (the support, a nail, a fill);
  a map trained under squared error bends its colours to explain it, and the bend carries
  the other side in. The Cauchy loss of :func:`shared_loss` bounds each pixel's pull.
- *Thickness from the X-ray.* A colour map sees paint as if equally thick everywhere; the
  mixed X-ray shows where it is not. Given the X-ray, each member fits every side's local
  thickness to the residual in optical depth (``thickness.py``): each side stays its own
  depth map, made locally thicker or thinner, so the pair explains more of the mixture
  without taking the other side's shapes. Without the X-ray (a served request of
  photographs alone) the sides are the colour maps' alone.
- *Refined with the thickness inside.* Fitted to the mixture alone, a map lowers its loss by
  bending its colours to explain the uneven paint it cannot see, and the bend carries the
  other side in: started at the true map, such training walks back to the leaky one
  (docs/methods.md, The shared map). The last ``refine`` part of training therefore fits
  each side's thickness inside the loss (:meth:`SharedModel.forward` given the X-ray), so
  uneven paint is explained as thickness and the map stops bending for it. The mixing curve is held
  there: with the fit inside, its saturation is not identified (the local gains stand in
  for it) and drifts to zero.

The colour map is ``τ(y) = psf * softplus(Σₖ wₖ φₖ(y) + b)`` with Gaussian bumps
``φₖ(y) = exp(−|y − cₖ|² / 2s²)`` around the panel's palette ``cₖ``: ``palette`` colours
found by k-means in both photographs, ``s`` the median distance between neighbouring palette
colours times ``width`` (wider bumps, a smoother map: less freedom to bend colours towards
content they do not cause). An ensemble of ``members`` maps, each with a palette from its
own seed, is trained at once (independent parameters, one loss); the separation is their
mean. The uncertainty map is how far the thickness fit moved the sides from their colours,
or without the X-ray the members' spread (:class:`_Uncertainty`). The receptive field is
the point-spread radius plus the thickness window's, so tiled inference is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from torch import nn
from torch.nn import functional

from xraysep.core import device as devices
from xraysep.core.filters import correlate
from xraysep.core.inference import once
from xraysep.core.methods.shared.thickness import thicken
from xraysep.core.separator import BACK, FRONT, XRAY
from xraysep.settings import Shared

ALL = slice(None)  # every channel of the stack: the pair needs both photographs and the X-ray
PALETTE_SAMPLE = 20_000  # pixels k-means sees per member: plenty for a few dozen colours
CACHED_PIXELS = 4096  # pixels whose bumps (K floats each) stay in a CPU's cache: 512 KB at 32
# e⁻⁸⁷ ≈ 1.6e-38 is float32's smallest normal order; below it exp makes subnormals or zero,
# which the CPU's vectorised exp computes on a slow path, up to 16 times slower
LOWEST_EXPONENT = -87.0


@dataclass(frozen=True)
class SharedConfig:
    """Shape of the shared model; stored beside the weights so a model file is self-describing.
    No defaults: the values come from ``params.yaml: shared`` (or a model file) only."""

    palette: int  # colours (Gaussian bumps) per member
    psf: int  # radius of the point-spread kernel, in pixels
    members: int  # ensemble size: the separation is the members' mean
    thickness: int  # radius of the window each side's paint thickness is fitted in; 0: off
    ridge: float  # how strongly the thickness fit is pulled towards even paint
    width: float  # bump width, in median distances between neighbouring palette colours

    @classmethod
    def from_settings(cls, section: Shared) -> SharedConfig:
        return cls(
            section.palette,
            section.psf,
            section.members,
            section.thickness,
            section.ridge,
            section.width,
        )

    @classmethod
    def from_dict(cls, values: dict) -> SharedConfig:
        """The inverse of :meth:`to_dict`."""
        return cls(**values)

    @property
    def radius(self) -> int:
        return self.psf + self.thickness

    def to_dict(self) -> dict:
        return asdict(self)


def palette(colours: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, float]:
    """``size`` palette colours of (n, 3) pixel colours by k-means, and their spacing: the
    median distance from a palette colour to its nearest neighbour in the palette."""
    rng = np.random.default_rng(seed)
    sample = colours[rng.choice(len(colours), min(PALETTE_SAMPLE, len(colours)), replace=False)]
    centres, _ = kmeans2(sample.astype(np.float64), size, seed=rng, minit="++")
    distance = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    return centres.astype(np.float32), float(max(np.median(distance.min(axis=1)), 1e-3))


def _exp(exponents: torch.Tensor) -> torch.Tensor:
    """``exp`` of ``exponents`` (overwritten) floored at :data:`LOWEST_EXPONENT`: a bump
    that far from its colour is nothing to any sum it enters, and the floor keeps every
    pixel on the fast path. No gradient flows here: the bumps depend on no parameter."""
    return torch.exp(exponents.clamp_(min=LOWEST_EXPONENT))


class Absorption(nn.Module):
    """RGB (N, 3, H, W) in [0, 1] -> optical depth τ ≥ 0 (N, 1, H, W)."""

    def __init__(self, palette_size: int, psf: int) -> None:
        super().__init__()
        self.register_buffer("centres", torch.zeros(palette_size, 3))
        self.register_buffer("width", torch.tensor(0.1))
        self.weights = nn.Conv2d(palette_size, 1, 1)
        nn.init.zeros_(self.weights.weight)
        nn.init.zeros_(self.weights.bias)
        logits = torch.full((2 * psf + 1, 2 * psf + 1), -4.0)
        logits[psf, psf] = 0.0  # starts close to no blur
        self.psf_logits = nn.Parameter(logits)

    def bumps(self, rgb: torch.Tensor) -> torch.Tensor:
        """φₖ for every pixel, (N·H·W, K): |y − c|² = |y|² − 2 c·y + |c|² for all k as one
        matrix product of ``(y, 1, |y|²)`` with ``(2sc, −s|c|², −s)``, so the logits are
        written once and read once by ``exp``. The terms are up to ``3 / 2s²`` (hundreds) and
        nearly cancel, so they need float32's 24-bit mantissa: a product, not a 1×1
        convolution, because cuDNN may run float32 convolutions in TF32 (10 bits), where each
        bump would be off by tens of per cent. Pixels are rows, so that the weights' product
        and its gradient read the bumps in place, with no transposed copy. They depend on no
        parameter: training holds them while its input stays the same (:class:`_LastBumps`)."""
        return _exp(torch.matmul(self._features(rgb), self._coefficients().T))

    def _features(self, rgb: torch.Tensor) -> torch.Tensor:
        """``(y, 1, |y|²)`` of every pixel, (N·H·W, 5)."""
        y = rgb.float().permute(0, 2, 3, 1).reshape(-1, 3)
        return torch.cat([y, torch.ones_like(y[:, :1]), (y * y).sum(1, keepdim=True)], 1)

    def _coefficients(self) -> torch.Tensor:
        """``(2sc, −s|c|², −s)`` of every palette colour, (K, 5)."""
        c, scale = self.centres, 1 / (2 * self.width**2)
        return torch.cat(
            [2 * scale * c, -scale * (c * c).sum(1, keepdim=True), -scale.expand(len(c), 1)], 1
        )

    def logits(self, bumps: torch.Tensor) -> torch.Tensor:
        """The weights' sum of the bumps, (N·H·W, 1). The weights (a 1×1 convolution's, so
        model files keep their layout) apply as a matrix product, which the CPU runs far
        faster than oneDNN's 1×1 convolution to a single channel."""
        return torch.matmul(bumps, self.weights.weight.flatten(1).T)

    def _logits_in_pieces(self, rgb: torch.Tensor) -> torch.Tensor:
        """:meth:`logits` of :meth:`bumps` without the bumps of the whole image: pieces of
        ``CACHED_PIXELS`` pixels, whose bumps stay in the CPU's cache from the exponential
        to the weights' product (no gradient needs them kept). Each pixel's sums are the
        same, so the result is too, bit for bit."""
        features, coefficients = self._features(rgb), self._coefficients()
        out = features.new_empty(len(features), 1)
        for start in range(0, len(features), CACHED_PIXELS):
            piece = features[start : start + CACHED_PIXELS]
            bumps = _exp(torch.matmul(piece, coefficients.T))
            out[start : start + CACHED_PIXELS] = self.logits(bumps)
        return out

    def depth(self, logits: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """The optical depth (N, 1, H, W) of an image of ``shape`` from its :meth:`logits`."""
        n, _, h, w = shape
        depth = functional.softplus(logits + self.weights.bias).view(n, h, w, 1)
        kernel = self.psf_logits.flatten().softmax(0).view_as(self.psf_logits)
        return correlate(depth.permute(0, 3, 1, 2), kernel)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """In float32 under CUDA's bf16 autocast too, for the bumps' sake (:meth:`bumps`):
        in bf16 CUDA's sides came out up to 7 % off the CPU's. The map is a few small
        passes; float32 costs it nothing that matters. Without gradients on the CPU the
        bumps are made piece by piece (:meth:`_logits_in_pieces`)."""
        with devices.full_precision(rgb.device):
            if torch.is_grad_enabled() or rgb.device.type != "cpu":
                return self.depth(self.logits(self.bumps(rgb)), rgb.shape)
            return self.depth(self._logits_in_pieces(rgb), rgb.shape)


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

    def depth(self, grey: torch.Tensor) -> torch.Tensor:
        """The inverse: the optical depth that gives ``grey``. Beyond the curve's asymptote
        ``a + B / k`` the depth is capped (at ``−log(10⁻³) / k``) instead of undefined."""
        k = functional.softplus(self.saturation) + 1e-3
        transmitted = 1 - k * (grey - self.level) / functional.softplus(self.gain)
        return -torch.log(transmitted.clamp_min(1e-3)) / k


class Member(nn.Module):
    """One colour map and its mixing curve."""

    def __init__(self, config: SharedConfig) -> None:
        super().__init__()
        self.absorption = Absorption(config.palette, config.psf)
        self.mixing = BeerLambert()


class SharedModel(nn.Module):
    """The ensemble, and its separator (``core.separator``).

    ``forward(first, second)`` gives each member's mixture prediction (M, N, 1, H, W), for
    training; ``pairs(stack)`` each member's front and back of a separator's stack, less the
    member's offset (set by :meth:`set_offsets`), its mixture of the two and how far the
    thickness fit moved them. The separation is the members' mean.
    """

    KIND = "shared"
    method = "shared"
    approaches = ("shared",)
    needs_xray = False

    def __init__(self, config: SharedConfig) -> None:
        super().__init__()
        self.config = config
        self.members = nn.ModuleList([Member(config) for _ in range(config.members)])
        self.register_buffer("offsets", torch.zeros(config.members))
        self.passes = _Pairs(self.pairs)
        self.last_bumps = _LastBumps()

    def train(self, mode: bool = True) -> SharedModel:
        """Out of training the held bumps (:class:`_LastBumps`) are let go."""
        if not mode:
            self.last_bumps = _LastBumps()
        return super().train(mode)

    def to_config(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict) -> SharedModel:
        return cls(SharedConfig.from_dict(config))

    @property
    def halo(self) -> int:
        return self.config.radius

    def init_palettes(self, front: np.ndarray, back: np.ndarray, seed: int) -> None:
        """Give member ``m`` the palette k-means finds from seed ``seed + m``, its bumps
        ``config.width`` times the palette's median neighbour distance wide."""
        colours = np.concatenate([front.reshape(-1, 3), back.reshape(-1, 3)])
        for index, member in enumerate(self.members):
            centres, spacing = palette(colours, self.config.palette, seed + index)
            member.absorption.centres.copy_(torch.from_numpy(centres))
            member.absorption.width.fill_(spacing * self.config.width)

    def palettes(self) -> list[torch.Tensor]:
        """Every member's palette centres and bump width: what the bumps depend on."""
        return [b for m in self.members for b in (m.absorption.centres, m.absorption.width)]

    def forward(
        self,
        first: torch.Tensor,
        second: torch.Tensor,
        xray: torch.Tensor | None = None,
        ridge: float = 0.0,
    ) -> torch.Tensor:
        """Each member's mixture prediction (M, N, 1, H, W) of the two photographs; given
        the X-ray, with each side's thickness fitted to it first at ``ridge`` (the
        refinement's loss)."""
        shape = torch.Size((len(first) + len(second), *first.shape[1:]))
        with devices.full_precision(first.device):  # the bumps too (Absorption.forward)
            bumps = self.last_bumps.get(
                (first, second, *self.palettes()),
                lambda: [m.absorption.bumps(torch.cat([first, second])) for m in self.members],
            )
            depths = [
                m.absorption.depth(m.absorption.logits(b), shape)
                for m, b in zip(self.members, bumps, strict=True)
            ]
        predictions = []
        for member, depth in zip(self.members, depths, strict=True):
            one, other = depth[: len(first)], depth[len(first) :]
            if xray is not None:
                one, other = self.thicken(member, one, other, xray.float(), ridge)
            predictions.append(member.mixing(one + other))
        return torch.stack(predictions)

    def thicken(
        self,
        member: Member,
        first: torch.Tensor,
        second: torch.Tensor,
        xray: torch.Tensor,
        ridge: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both sides' depths with their thickness fitted to the residual of ``member``'s
        curve (``thickness.py``), in float32: the inverse curve and the fit are too fine
        for bf16."""
        residual = torch.nan_to_num(member.mixing.depth(xray) - first - second, nan=0.0)
        return thicken(first, second, residual, self.config.thickness, ridge)

    def pairs(
        self, stack: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each member's front and back of the (N, 7, h, w) stack, (M, N, 1, h, w) each, less
        its offset: the colour map's depths, each side's thickness fitted to the X-ray where
        the stack has it; each member's mixture of the two, the X-ray it predicts; and how far
        the thickness fit moved the member's sides from their colours' alone (the mean over
        both sides of the absolute change; 0 without the fit)."""
        xray = stack[:, XRAY].float()
        fronts, backs, mixtures, moved = [], [], [], []
        for member in self.members:
            first = member.absorption(stack[:, FRONT]).float()
            second = member.absorption(stack[:, BACK]).float()
            front, back = member.mixing(first), member.mixing(second)
            if self.config.thickness:
                colours = front, back
                first, second = self.thicken(member, first, second, xray, self.config.ridge)
                front, back = member.mixing(first), member.mixing(second)
                moved.append(((front - colours[0]).abs() + (back - colours[1]).abs()) / 2)
            else:
                moved.append(torch.zeros_like(front))
            fronts.append(front)
            backs.append(back)
            mixtures.append(member.mixing(first + second))
        offsets = self.offsets[:, None, None, None, None]
        return (
            torch.stack(fronts) - offsets,
            torch.stack(backs) - offsets,
            torch.stack(mixtures),
            torch.stack(moved),
        )

    def set_offsets(self, front: torch.Tensor, back: torch.Tensor, xray: torch.Tensor) -> None:
        """The offset rule: each member gives both sides the same offset (one map, one
        background level), chosen so that the pair's mean equals the mixture's mean."""
        self.offsets.zero_()
        fronts, backs, *_ = self.pairs(torch.cat([front, back, xray], dim=1))
        total = fronts.mean((1, 2, 3, 4)) + backs.mean((1, 2, 3, 4))
        self.offsets.copy_((total - xray.mean()) / 2)

    def sides(self, approach: str | None = None) -> dict[str, nn.Module]:
        return {side: _Mean(self.passes, index) for index, side in enumerate(("front", "back"))}

    def spread(self) -> nn.Module:
        return _Uncertainty(self.passes, bool(self.config.thickness))

    def mixture(self) -> nn.Module:
        """The mixed X-ray the sides make together under the members' Beer–Lambert curves
        (their mean): the hidden layer is the X-ray less it (``core.hidden``), since
        saturating sides do not simply add."""
        return _Mean(self.passes, 2)


class _LastBumps:
    """The members' bumps of the last training input, computed again only when the input
    or a palette changes. A whole-panel training step sees the same image every time, and
    its bumps (an exponential per pixel and palette colour) are most of the step's work.

    An input is known by where its data lies, its layout and its version counter (which
    every in-place change advances); the tensors are held, so their memory cannot be
    reused by another tensor while the key stands."""

    def __init__(self) -> None:
        self.key: tuple = ()
        self.held: tuple[torch.Tensor, ...] = ()
        self.bumps: list[torch.Tensor] = []

    def get(
        self, inputs: tuple[torch.Tensor, ...], compute: Callable[[], list[torch.Tensor]]
    ) -> list[torch.Tensor]:
        key = tuple(
            (t.device, t.data_ptr(), t.shape, t.stride(), t.dtype, t._version) for t in inputs
        )
        if key != self.key:
            self.bumps = []  # the old bumps go before the new ones are made
            self.key, self.held, self.bumps = key, inputs, compute()
        return self.bumps


class _Pairs(nn.Module):
    """:meth:`SharedModel.pairs` as a module of its own, so that ``once`` runs it a single
    time per tile for both sides, the mixture and the uncertainty
    (``core.inference.shared_passes``). It holds the method, not the model, so it adds
    nothing to the model's state or children."""

    def __init__(self, pairs: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]):
        super().__init__()
        self.pairs = pairs

    def forward(self, stack: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.pairs(stack)


class _Mean(nn.Module):
    """The ensemble's estimate of one side (``index`` 0: front, 1: back) or of the mixture
    (2): the members' mean."""

    def __init__(self, passes: _Pairs, index: int) -> None:
        super().__init__()
        self.passes, self.index = passes, index

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        return once(self.passes, stack, ALL)[self.index].mean(0)


class _Uncertainty(nn.Module):
    """Per-pixel uncertainty: how much of the split the photographs did not decide. Where the
    X-ray decided part of it (the thickness fit, given the X-ray), how far that fit moved the
    sides from their colours' alone (the members' mean): content no colour explains, handed
    to one side or the other by the fit. Elsewhere (no X-ray, or ``thickness: 0``) the
    members' standard deviation, averaged over both sides."""

    def __init__(self, passes: _Pairs, fitted: bool) -> None:
        super().__init__()
        self.passes, self.fitted = passes, fitted

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        fronts, backs, _, moved = once(self.passes, stack, ALL)
        missing = torch.isnan(stack[:, XRAY].float())
        if self.fitted and not bool(missing.any()):
            return moved.mean(0)  # the spread is read only where the X-ray is missing
        spread = (fronts.std(0, correction=0) + backs.std(0, correction=0)) / 2
        if not self.fitted:
            return spread
        return torch.where(missing, spread, moved.mean(0))


def shared_loss(
    model: nn.Module,
    batch: torch.Tensor,
    progress: float,
    scale: float,
    refine: float = 0.0,
    ridge: float = 0.0,
) -> torch.Tensor:
    """Every member's Beer–Lambert mixture must match the X-ray (mean over members), under
    a Cauchy loss ``s² log(1 + (r / s)²)`` of scale ``s``: squared error for residuals below
    ``s``, growing only logarithmically beyond. The mixed X-ray holds content no colour map
    can explain (the support's grain, a nail, a fill, swells of paint); under squared error
    the map bends its colours to explain it, and that bend is where the other side leaks in
    (docs/methods.md, The shared map). Under the Cauchy loss a pixel pulls with a force of
    at most ``s``, so such content moves the map little. In the last ``refine``
    part of the run (``progress ≥ 1 − refine``) each side's thickness is fitted inside the
    prediction, at ``ridge``, so the uneven paint no colour shows does not pull the map.
    That ridge is smaller than the separation's (``SharedConfig.ridge``) on purpose: here
    the fit is a nuisance model, and the more it explains, the less the map bends; in the
    separation it allocates the residual between the sides, and the less it takes, the
    less it can move from one side to the other."""
    xray = batch[:, 6:]
    refining = refine > 0 and progress >= 1 - refine
    predictions = model(batch[:, :3], batch[:, 3:6], xray if refining else None, ridge).float()
    residual = predictions - xray[None]
    return (scale**2 * torch.log1p((residual / scale) ** 2)).mean()


def shared_groups(model: SharedModel, refine: float) -> list[dict]:
    """The optimiser's parameter groups (``core.training.fit``): the colour maps learn
    throughout; the mixing curves only until the refinement starts, then stay as they are
    (with the thickness fitted inside the loss their saturation is not identified)."""
    maps = [p for member in model.members for p in member.absorption.parameters()]
    curves = [p for member in model.members for p in member.mixing.parameters()]
    return [{"params": maps}, {"params": curves, "until": 1 - refine}]
