"""What ``train`` fits for each trained network: an ordering of the paper's two-branch
network (``12``, ``21``) or the shared colour map (``shared``).

A recipe holds the model (initialised), its loss, the photographs of its two input slots,
the settings of the training loop and a description of the architecture (logged to MLflow and
part of the resume fingerprint), and knows how to turn the trained model into the two images
whose sum reconstructs the mixture, for the run's metrics and previews.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from xraysep import config
from xraysep.core.combined import ORDERS, slot_input
from xraysep.core.inference import predict
from xraysep.core.methods import SHARED
from xraysep.core.network import NetConfig, TwoBranchNet, parameter_count
from xraysep.core.separator import stack
from xraysep.core.shared import SharedConfig, SharedModel, shared_loss
from xraysep.core.training import Loss, TrainSettings, two_branch_loss
from xraysep.errors import InputError


@dataclass
class Recipe:
    key: str
    model: nn.Module
    loss: Loss
    first: np.ndarray
    second: np.ndarray
    preset: str
    settings: TrainSettings
    description: dict

    @property
    def halo(self) -> int:
        return self.model.halo if isinstance(self.model, SharedModel) else self.model.config.radius

    def params(self) -> dict:
        """What MLflow records about the architecture."""
        flat = {
            k: ",".join(map(str, v)) if isinstance(v, list) else v
            for k, v in self.description.items()
        }
        return flat | {"parameters": parameter_count(self.model)}

    def images(self, xray: np.ndarray, tile: int, device: torch.device) -> dict[str, np.ndarray]:
        """The trained model's two images of the panel (they should sum to ``xray``), named
        for previews. The shared model first gets its offsets (the rule of ``set_offsets``)."""
        if isinstance(self.model, SharedModel):
            with torch.no_grad():
                self.model.set_offsets(
                    *(_tensor(a, device) for a in (self.first, self.second, xray))
                )
            photographs = stack(self.first, self.second)
            return {
                f"shared_{side}": predict(
                    module, photographs, halo=self.halo, tile=tile, device=device
                )
                for side, module in self.model.sides().items()
            }
        pairs = zip(self.model.branches, (self.first, self.second), strict=True)
        return {
            f"order{self.key}_slot{slot}": predict(
                branch, image, halo=self.halo, tile=tile, device=device
            )
            for slot, (branch, image) in enumerate(pairs, start=1)
        }


def _tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(h, w[, c]) array -> (1, c, h, w) tensor on ``device``."""
    channels_first = np.atleast_3d(image).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(channels_first))[None].to(device)


def recipe(
    key: str,
    photographs: dict[str, np.ndarray],
    *,
    preset: str | None,
    seed: int,
    iterations: int | None,
    checkpoint_every: int,
) -> Recipe:
    """The recipe of trained network ``key`` (``12``, ``21`` or ``shared``) on these photographs."""
    if key == SHARED:
        if preset is not None:
            raise InputError(
                "--preset applies to the paper's network; the shared method reads its "
                "settings from the `shared` section of params.yaml"
            )
        section = config.params()["shared"]
        shape = photographs["front"].shape[:2]
        settings = TrainSettings.from_preset(section, seed, iterations, checkpoint_every)
        settings = replace(settings, patch=min(settings.patch, *shape))
        shared = SharedConfig.from_params(section)
        torch.manual_seed(seed)
        model = SharedModel(shared)
        model.init_palettes(photographs["front"], photographs["back"], seed)
        description = {"method": SHARED, **shared.to_dict()}
        return Recipe(
            key,
            model,
            shared_loss,
            photographs["front"],
            photographs["back"],
            SHARED,
            settings,
            description,
        )
    if key not in ORDERS:
        raise InputError(f"order {key!r}: unknown; choose 12 (front, back) or 21 (back, front)")
    name = preset or config.params()["train"]["preset"]
    values = config.preset(name)
    settings = TrainSettings.from_preset(values, seed, iterations, checkpoint_every)
    net_config = NetConfig.from_preset(values)
    torch.manual_seed(seed)
    first, second = (photographs[slot_input(key, slot)] for slot in (1, 2))
    description = {"channels": list(net_config.channels), "kernel": net_config.kernel}
    net = TwoBranchNet(net_config)
    return Recipe(key, net, two_branch_loss, first, second, name, settings, description)
