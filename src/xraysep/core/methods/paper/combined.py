"""The paper's combine: one network per ordering, slot 1 of each
(docs/methods.md, The paper's method).

The paper found that output slot 1 reconstructs better than slot 2 in both orderings, so its
combined result takes the front X-ray from slot 1 of order ``12`` (which sees the front
photograph in slot 1) and the back X-ray from slot 1 of order ``21`` (which sees the back
photograph there). The model keeps both ordering networks whole, so the single-ordering
results stay available for comparison, and the two orderings' disagreement gives the
uncertainty map. With ``rule="consistent"`` its own result is the sum-consistent pair of
``consistent.py`` instead of the paper's.
"""

from __future__ import annotations

import torch
from torch import nn

from xraysep.core.methods.paper.consistent import ConsistentSide, OrderingSpread
from xraysep.core.methods.paper.network import NetConfig, TwoBranchNet
from xraysep.core.separator import PHOTOGRAPH, Channels

ORDERS = ("12", "21")

# approach -> which (order, slot) yields the front X-ray and which the back X-ray.
# Order 12 feeds (front, back) to slots (1, 2); order 21 feeds (back, front).
APPROACHES: dict[str, tuple[tuple[str, int], tuple[str, int]]] = {
    "order12": (("12", 1), ("12", 2)),
    "order21": (("21", 2), ("21", 1)),
    "combined": (("12", 1), ("21", 1)),
}


def slot_input(order: str, slot: int) -> str:
    """Which photograph (``front`` or ``back``) ordering ``order`` feeds to ``slot``."""
    first, second = ("front", "back") if order == "12" else ("back", "front")
    return first if slot == 1 else second


class CombinedModel(nn.Module):
    """Both ordering networks; a separator (``core.separator``) whose result follows ``rule``.

    ``disagreement`` holds the mean differences ``(mean(F₁₂ − F₂₁), mean(B₂₁ − B₁₂))`` of the
    two orderings' estimates of each side, measured by combine on the panel.
    """

    KIND = "combined"
    needs_xray = False

    def __init__(self, config: NetConfig, rule: str = "paper", smoothing: int = 4) -> None:
        super().__init__()
        self.config, self.rule, self.smoothing = config, rule, smoothing
        self.nets = nn.ModuleDict({order: TwoBranchNet(config) for order in ORDERS})
        self.register_buffer("disagreement", torch.zeros(2))

    def to_config(self) -> dict:
        return {**self.config.to_dict(), "rule": self.rule, "smoothing": self.smoothing}

    @classmethod
    def from_config(cls, config: dict) -> CombinedModel:
        rule, smoothing = config.get("rule", "paper"), int(config.get("smoothing", 4))
        return cls(NetConfig.from_dict(config), rule, smoothing)

    @property
    def method(self) -> str:
        return self.rule

    @property
    def approaches(self) -> tuple[str, ...]:
        own = ("consistent",) if self.rule == "consistent" else ()
        return (*own, "combined", "order12", "order21")

    @property
    def halo(self) -> int:
        return self.config.radius + (self.smoothing if self.rule == "consistent" else 0)

    def branch(self, order: str, slot: int) -> nn.Module:
        return self.nets[order].branches[slot - 1]

    def slot(self, order: str, slot: int) -> nn.Module:
        """The branch of ``(order, slot)`` reading its photograph from the stack."""
        return Channels(self.branch(order, slot), PHOTOGRAPH[slot_input(order, slot)])

    def sides(self, approach: str | None = None) -> dict[str, nn.Module]:
        """The module that makes each side's X-ray under ``approach`` (default: the rule's)."""
        approach = approach or self.approaches[0]
        if approach == "consistent":
            return {"front": ConsistentSide(self, 0), "back": ConsistentSide(self, 1)}
        (front_order, front_slot), (back_order, back_slot) = APPROACHES[approach]
        return {
            "front": self.slot(front_order, front_slot),
            "back": self.slot(back_order, back_slot),
        }

    def spread(self) -> nn.Module:
        return OrderingSpread(self)
