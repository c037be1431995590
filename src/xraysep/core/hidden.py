"""The hidden layer: what the separated pair leaves of the mixed X-ray, and how it scores.

A radiograph of a double-sided panel holds more than its two painted sides: the support's
grain, battens and nails, fills, a ground of uneven thickness, an earlier composition under
one side. Neither photograph shows them. The hidden layer is the X-ray less the mixture the
method's pair makes: for sides that simply add, ``x − front − back``, so that the three sum
to the mixture; for a method whose sides saturate together (``shared``'s Beer–Lambert
curves) the X-ray less its own mixture of the two, which does not also hold the product
term by which saturating sides fall short of their sum. A method that does not force its
pair to explain the mixture routes such content here instead of into a side. Where the
panel's true hidden content is known (``truth/hidden_xray`` of a synthetic panel) it is
scored: how well the layer matches it, and how much of it leaked into each side.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from xraysep.core.inference import predict_all
from xraysep.core.metrics import correlation, remove_offset
from xraysep.core.separator import XRAY, Separator

HEADERS = {  # metric -> short header, in table order
    "hidden_corr": "hidden corr",
    "front_hidden_leak": "front leak",
    "back_hidden_leak": "back leak",
}


class Sum(nn.Module):
    """The sum of ``sides``' outputs: the mixture of sides that simply add."""

    def __init__(self, sides: list[nn.Module]) -> None:
        super().__init__()
        self.sides = nn.ModuleList(sides)

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        return sum(side(stack).float() for side in self.sides)


class Remainder(nn.Module):
    """The mixed X-ray of the stack less ``mixture``'s prediction of it; NaN where the stack
    has no X-ray."""

    def __init__(self, mixture: nn.Module) -> None:
        super().__init__()
        self.mixture = mixture

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        return stack[:, XRAY].float() - self.mixture(stack).float()


def outputs(model: Separator, approach: str | None = None) -> dict[str, nn.Module]:
    """``{"front": ..., "back": ..., "hidden": ...}`` of ``model`` under ``approach`` (default
    its own): the sides, and the X-ray less the mixture the model's own result makes (its
    ``mixture()`` where it has one, else the pair's sum). Every separator runs its networks
    through ``core.inference.once``, so on a tile the hidden layer reuses the sides' passes
    and adds only its arithmetic."""
    sides = model.sides(approach)
    own = approach in (None, model.approaches[0]) and hasattr(model, "mixture")
    mixture = model.mixture() if own else Sum(list(sides.values()))
    return sides | {"hidden": Remainder(mixture)}


def separate(
    model: Separator, photographs: np.ndarray, *, tile: int, device: torch.device,
    approach: str | None = None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """``{"front", "back", "hidden"}`` of ``model`` (under ``approach``) on an in-memory
    (H, W, 7) stack, in tiles with the model's halo (``core.separator.separate``, with the
    hidden layer)."""
    modules = outputs(model, approach)
    images = predict_all(
        list(modules.values()), photographs, halo=model.halo, tile=tile, device=device
    )
    return dict(zip(modules, images, strict=True))


def scores(
    hidden: np.ndarray,
    front: np.ndarray,
    back: np.ndarray,
    truth_front: np.ndarray,
    truth_back: np.ndarray,
    truth_hidden: np.ndarray,
) -> dict[str, float]:
    """``hidden_corr``: the correlation of the hidden layer with the true hidden content (1:
    all of it, and only it, is there); ``<side>_hidden_leak``: the absolute correlation of a
    side's error (after the unidentifiable offset) with the true hidden content (0: none of
    it went into that side). Correlations, so the hidden layer's scale does not matter."""
    result = {"hidden_corr": correlation(hidden, truth_hidden)}
    for name, estimate, truth in (("front", front, truth_front), ("back", back, truth_back)):
        error = remove_offset(estimate.astype(np.float64), truth) - truth
        result[f"{name}_hidden_leak"] = abs(correlation(error, truth_hidden))
    return result
