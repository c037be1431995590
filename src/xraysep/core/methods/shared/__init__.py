"""The shared method: one colour-to-absorption map for both sides (docs/methods.md, The
shared map); the model in ``model.py``, each side's paint thickness in ``thickness.py``."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np
import torch
from torch import nn

from xraysep.core.inference import centre_window
from xraysep.core.methods.base import Method, PanelView, Trainable, Window
from xraysep.core.methods.shared.model import SharedConfig, SharedModel, shared_groups, shared_loss
from xraysep.core.separator import separate, stack
from xraysep.core.training import TrainSettings
from xraysep.errors import InputError
from xraysep.settings import Settings

NAME = "shared"
PALETTE_WINDOW = 1024  # the palette is found in a centred window of this side


def _tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(h, w[, c]) array -> (1, c, h, w) tensor on ``device``."""
    channels_first = np.atleast_3d(image).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(channels_first))[None].to(device)


def images(
    model: SharedModel, panel: PanelView, window: Window, tile: int, device: torch.device
) -> dict[str, np.ndarray]:
    """The trained map's pair of ``window``, its offsets set there first."""
    front, back, xray = panel.rgb("front", *window), panel.rgb("back", *window), panel.xray(*window)
    with torch.no_grad():
        model.set_offsets(*(_tensor(a, device) for a in (front, back, xray)))
    pair = separate(model, stack(front, back), tile=tile, device=device)
    return {f"shared_{side}": image for side, image in pair.items()}


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
    """The shared map, its palettes found on ``panel``, with the ``shared`` settings."""
    if preset is not None:
        raise InputError(
            "--preset applies to the paper's network; the shared method reads its "
            "settings from the `shared` section of params.yaml"
        )
    section = settings.shared
    protocol = TrainSettings.from_preset(section, seed, iterations, checkpoint_every)
    config = SharedConfig.from_settings(section)
    scale, refine, refine_ridge = section.robust, section.refine, section.refine_ridge
    torch.manual_seed(seed)
    model = SharedModel(config)
    window = centre_window(panel.shape, PALETTE_WINDOW)
    model.init_palettes(panel.rgb("front", *window), panel.rgb("back", *window), seed)
    description = {"method": NAME, **config.to_dict(), "robust": scale}
    description |= {"refine": refine, "refine_ridge": refine_ridge}
    return Trainable(
        key,
        model,
        partial(shared_loss, scale=scale, refine=refine, ridge=refine_ridge),
        ("front", "back"),
        NAME,
        protocol,
        description,
        model.halo,
        partial(images, model),
        partial(shared_groups, refine=refine),
    )


def combine(
    trained: Mapping[str, nn.Module],
    window: np.ndarray,
    *,
    settings: Settings,
    tile: int,
    device: torch.device,
) -> SharedModel:
    """The trained map as it is: its offsets were set at training."""
    return trained[NAME].to(device)


SHARED = Method(
    NAME,
    "the default: one colour-to-absorption map for both sides, mixed by Beer–Lambert",
    trains=(NAME,),
    combine=combine,
    separator=SharedModel,
    network=SharedModel,
    recipe=recipe,
)
