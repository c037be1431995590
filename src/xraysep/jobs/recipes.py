"""What ``train`` fits for each trained network: an ordering of the paper's two-branch
network (``12``, ``21``) or the shared colour map (``shared``).

A recipe holds the model (initialised from the panel where it needs to be), its loss, which
photograph feeds each of its two inputs, the settings of the training loop and a description
of the architecture (logged to MLflow and part of the resume fingerprint), and knows how to
turn the trained model into the two images whose sum reconstructs the mixture, for the run's
metrics and previews.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from xraysep import config
from xraysep.core.combined import ORDERS, slot_input
from xraysep.core.inference import centre_window, predict_region
from xraysep.core.methods import SHARED
from xraysep.core.network import NetConfig, TwoBranchNet, parameter_count
from xraysep.core.separator import separate, stack
from xraysep.core.shared import SharedConfig, SharedModel, shared_groups, shared_loss
from xraysep.core.training import Loss, TrainSettings, two_branch_loss
from xraysep.errors import InputError
from xraysep.io.store import Panel

PALETTE_WINDOW = 1024  # the shared map's palette is found in a centred window of this side


@dataclass
class Recipe:
    key: str
    model: nn.Module
    loss: Loss
    slots: tuple[str, str]  # the photograph ("front" or "back") each input reads
    preset: str
    settings: TrainSettings
    description: dict
    halo: int
    groups: Callable[[nn.Module], list[dict]] | None = None  # the optimiser's, if not one

    def params(self) -> dict:
        """What MLflow records about the architecture."""
        flat = {
            k: ",".join(map(str, v)) if isinstance(v, list) else v
            for k, v in self.description.items()
        }
        return flat | {"parameters": parameter_count(self.model)}

    def images(
        self, panel: Panel, window: tuple[slice, slice], tile: int, device: torch.device
    ) -> dict[str, np.ndarray]:
        """The trained model's two images of ``window`` (they should sum to the X-ray there),
        named for previews. The shared model first gets its offsets (``set_offsets``)."""
        if isinstance(self.model, SharedModel):
            first, second = (panel.rgb(side, *window) for side in self.slots)
            xray = panel.xray(*window)
            with torch.no_grad():
                self.model.set_offsets(*(_tensor(a, device) for a in (first, second, xray)))
            pair = separate(self.model, stack(first, second), tile=tile, device=device)
            return {f"shared_{side}": image for side, image in pair.items()}
        inputs = zip(self.model.branches, self.slots, strict=True)
        return {
            f"order{self.key}_slot{slot}": predict_region(
                [branch],
                lambda ys, xs, side=side: panel.rgb(side, ys, xs),
                panel.shape,
                window,
                halo=self.halo,
                tile=tile,
                device=device,
            )[0]
            for slot, (branch, side) in enumerate(inputs, start=1)
        }


def _tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(h, w[, c]) array -> (1, c, h, w) tensor on ``device``."""
    channels_first = np.atleast_3d(image).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(channels_first))[None].to(device)


def recipe(
    key: str,
    panel: Panel,
    *,
    preset: str | None,
    seed: int,
    iterations: int | None,
    checkpoint_every: int,
) -> Recipe:
    """The recipe of trained network ``key`` (``12``, ``21`` or ``shared``) on ``panel``."""
    if key == SHARED:
        if preset is not None:
            raise InputError(
                "--preset applies to the paper's network; the shared method reads its "
                "settings from the `shared` section of params.yaml"
            )
        section = config.params()["shared"]
        settings = TrainSettings.from_preset(section, seed, iterations, checkpoint_every)
        shared = SharedConfig.from_params(section)
        scale, refine = float(section["robust"]), float(section["refine"])
        refine_ridge = float(section["refine_ridge"])
        for name, value in (("robust", scale), ("width", shared.width)):
            if value <= 0:
                raise InputError(f"params.yaml shared.{name} = {value}: must be positive")
        if not 0 <= refine < 1:
            raise InputError(f"params.yaml shared.refine = {refine}: must be in [0, 1)")
        if refine and not shared.thickness:
            raise InputError(
                f"params.yaml shared.refine = {refine}: refines with the thickness fit, "
                "which shared.thickness = 0 turns off; set shared.refine to 0 as well"
            )
        torch.manual_seed(seed)
        model = SharedModel(shared)
        window = centre_window(panel.shape, PALETTE_WINDOW)
        model.init_palettes(panel.rgb("front", *window), panel.rgb("back", *window), seed)
        description = {"method": SHARED, **shared.to_dict(), "robust": scale}
        description |= {"refine": refine, "refine_ridge": refine_ridge}
        loss = partial(shared_loss, scale=scale, refine=refine, ridge=refine_ridge)
        groups = partial(shared_groups, refine=refine)
        return Recipe(
            key, model, loss, ("front", "back"), SHARED, settings, description, model.halo, groups
        )
    if key not in ORDERS:
        raise InputError(f"order {key!r}: unknown; choose 12 (front, back) or 21 (back, front)")
    name = preset or config.params()["train"]["preset"]
    values = config.preset(name)
    settings = TrainSettings.from_preset(values, seed, iterations, checkpoint_every)
    net_config = NetConfig.from_preset(values)
    torch.manual_seed(seed)
    slots = (slot_input(key, 1), slot_input(key, 2))
    description = {"channels": list(net_config.channels), "kernel": net_config.kernel}
    net = TwoBranchNet(net_config)
    return Recipe(key, net, two_branch_loss, slots, name, settings, description, net_config.radius)
