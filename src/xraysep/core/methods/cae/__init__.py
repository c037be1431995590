"""Connected auto-encoders, after Pu et al. (docs/methods.md, Connected auto-encoders): the
networks in ``network.py``, the loss in ``loss.py``; here what the jobs call."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np
import torch
from torch import nn

from xraysep.core.methods.base import Method, PanelView, Trainable, Window
from xraysep.core.methods.cae.loss import cae_loss
from xraysep.core.methods.cae.network import CaeConfig, ConnectedAutoEncoders
from xraysep.core.separator import separate, stack
from xraysep.core.training import TrainSettings
from xraysep.settings import Settings

NAME = "cae"


def images(
    model: ConnectedAutoEncoders,
    panel: PanelView,
    window: Window,
    tile: int,
    device: torch.device,
) -> dict[str, np.ndarray]:
    """The trained model's pair of ``window``."""
    photographs = stack(panel.rgb("front", *window), panel.rgb("back", *window))
    pair = separate(model, photographs, tile=tile, device=device)
    return {f"cae_{side}": image for side, image in pair.items()}


def recipe(
    key: str,
    panel: PanelView,
    *,
    settings: Settings,
    preset: str | None,
    seed: int,
    iterations: int | None,
    checkpoint_every: int,
) -> Trainable:
    """The connected auto-encoders with the ``cae`` settings (no presets: ``preset`` is None)."""
    section = settings.cae
    protocol = TrainSettings.from_preset(section, seed, iterations, checkpoint_every)
    config = CaeConfig.from_settings(section)
    weights = {
        "rgb": section.rgb_weight,
        "mixture": section.mixture_weight,
        "xray": section.xray_weight,
        "code": section.code_weight,
    }
    torch.manual_seed(seed)
    model = ConnectedAutoEncoders(config)
    description = {"method": NAME, **config.to_dict()} | {
        f"{k}_weight": v for k, v in weights.items()
    }
    return Trainable(
        key,
        model,
        partial(cae_loss, **weights),
        ("front", "back"),
        NAME,
        protocol,
        description,
        model.halo,
        partial(images, model),
    )


def combine(
    trained: Mapping[str, nn.Module],
    window: np.ndarray,
    *,
    settings: Settings,
    tile: int,
    device: torch.device,
) -> ConnectedAutoEncoders:
    """The trained auto-encoders as they are: they need no constant of the panel."""
    return trained[NAME].to(device)


CAE = Method(
    NAME,
    "peer (Pu et al.): connected auto-encoders; a side's X-ray decoded from its photograph's code",
    trains=(NAME,),
    combine=combine,
    separator=ConnectedAutoEncoders,
    network=ConnectedAutoEncoders,
    recipe=recipe,
)
