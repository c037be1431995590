"""The paper's method and the sum-consistent rule: two orderings of the two-branch network
(docs/methods.md, The paper's method).

Both methods train the same two networks, ordering ``12`` (front, back photographs to slots
1, 2) and ``21`` (back, front), and differ only in how combine makes the pair of them:
``paper`` takes slot 1 of each (``combined.py``), ``consistent`` makes that pair explain the
mixture (``consistent.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from xraysep.core.inference import predict_all, predict_region
from xraysep.core.methods.base import Combine, Method, PanelView, Trainable, Window
from xraysep.core.methods.paper.combined import ORDERS, CombinedModel, slot_input
from xraysep.core.methods.paper.network import NetConfig, TwoBranchNet
from xraysep.core.training import TrainSettings, two_branch_loss
from xraysep.errors import InputError
from xraysep.settings import Settings


def ordering_recipe(
    key: str,
    panel: PanelView,
    *,
    settings: Settings,
    preset: str | None,
    seed: int,
    iterations: int | None,
    checkpoint_every: int,
) -> Trainable:
    """Ordering ``key`` of the two-branch network, at the width and protocol of ``preset``
    (default ``params.yaml: train.preset``)."""
    name = preset or settings.train.preset
    values = settings.preset(name)
    protocol = TrainSettings.from_preset(values, seed, iterations, checkpoint_every)
    net_config = NetConfig.from_preset(values)
    torch.manual_seed(seed)
    net = TwoBranchNet(net_config)
    slots = (slot_input(key, 1), slot_input(key, 2))
    description = {"channels": list(net_config.channels), "kernel": net_config.kernel}

    def images(
        panel: PanelView, window: Window, tile: int, device: torch.device
    ) -> dict[str, np.ndarray]:
        return {
            f"order{key}_slot{slot}": predict_region(
                [branch],
                lambda ys, xs, side=side: panel.rgb(side, ys, xs),
                panel.shape,
                window,
                halo=net_config.radius,
                tile=tile,
                device=device,
            )[0]
            for slot, (branch, side) in enumerate(zip(net.branches, slots, strict=True), 1)
        }

    return Trainable(
        key, net, two_branch_loss, slots, name, protocol, description, net_config.radius, images
    )


def measure_disagreement(
    model: CombinedModel, window: np.ndarray, tile: int, device: torch.device
) -> None:
    """Set ``model.disagreement``: the mean differences of the orderings' estimates per side."""
    keys = [(order, slot) for order in ORDERS for slot in (1, 2)]
    modules = [model.slot(order, slot) for order, slot in keys]
    estimates = predict_all(modules, window, halo=model.config.radius, tile=tile, device=device)
    slots = dict(zip(keys, estimates, strict=True))
    front = np.mean(slots["12", 1] - slots["21", 2], dtype=np.float64)
    back = np.mean(slots["21", 1] - slots["12", 2], dtype=np.float64)
    model.disagreement.copy_(torch.tensor([front, back]))


def orderings(rule: str) -> Combine:
    """The combine of ``rule``: both trained orderings in one :class:`CombinedModel`, their
    disagreement measured on the window."""

    def combine(
        trained: Mapping[str, nn.Module],
        window: np.ndarray,
        *,
        settings: Settings,
        tile: int,
        device: torch.device,
    ) -> CombinedModel:
        configs = {order: trained[order].config for order in ORDERS}
        if configs["12"] != configs["21"]:
            raise InputError(
                f"orders 12 and 21 were trained with different networks "
                f"({configs['12'].channels} vs {configs['21'].channels}); retrain with one preset"
            )
        model = CombinedModel(configs["12"], rule, settings.consistent.smoothing)
        for order in ORDERS:
            model.nets[order].load_state_dict(trained[order].state_dict())
        model.to(device)
        measure_disagreement(model, window, tile, device)
        return model

    return combine


PAPER = Method(
    "paper",
    "the published method: two orderings of the two-branch network, slot 1 of each",
    trains=ORDERS,
    combine=orderings("paper"),
    separator=CombinedModel,
    network=TwoBranchNet,
    recipe=ordering_recipe,
    presets=True,
)
CONSISTENT = Method(
    "consistent",
    "the paper's networks and slots, combined so that the pair explains the mixture",
    trains=ORDERS,
    combine=orderings("consistent"),
    separator=CombinedModel,
    network=TwoBranchNet,
    recipe=ordering_recipe,
    presets=True,
)
