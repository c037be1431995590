"""The paper's combine (DESIGN §2): one network per ordering, slot 1 of each.

The paper found that output slot 1 reconstructs better than slot 2 in both orderings, so its
combined result takes the front X-ray from slot 1 of order ``12`` (which sees the front
photograph in slot 1) and the back X-ray from slot 1 of order ``21`` (which sees the back
photograph there). The model keeps both ordering networks whole, so the single-ordering
results stay available for comparison.
"""

from __future__ import annotations

from torch import nn

from xraysep.core.network import NetConfig, TwoBranchNet

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
    """Both ordering networks; ``branch(order, slot)`` picks one branch for inference."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        self.nets = nn.ModuleDict({order: TwoBranchNet(config) for order in ORDERS})

    def branch(self, order: str, slot: int) -> nn.Module:
        return self.nets[order].branches[slot - 1]

    def sides(self, approach: str = "combined") -> dict[str, nn.Module]:
        """The branch that makes each side's X-ray under ``approach``."""
        (front_order, front_slot), (back_order, back_slot) = APPROACHES[approach]
        return {
            "front": self.branch(front_order, front_slot),
            "back": self.branch(back_order, back_slot),
        }
