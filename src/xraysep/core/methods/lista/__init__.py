"""Unrolled learned ISTA with coupled shrinkage, after Pu, Huang et al. (docs/methods.md,
Unrolled learned ISTA): the network in ``network.py``, the loss in ``loss.py``; here what
the jobs call."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np
import torch
from torch import nn

from xraysep.core.methods.base import Method, PanelView, Trainable, Window
from xraysep.core.methods.lista.loss import lista_loss
from xraysep.core.methods.lista.network import CoupledLista, ListaConfig
from xraysep.core.separator import separate, stack
from xraysep.core.training import TrainSettings
from xraysep.settings import Settings

NAME = "lista"


def images(
    model: CoupledLista, panel: PanelView, window: Window, tile: int, device: torch.device
) -> dict[str, np.ndarray]:
    """The trained network's pair of ``window``."""
    photographs = stack(
        panel.rgb("front", *window), panel.rgb("back", *window), panel.xray(*window)
    )
    pair = separate(model, photographs, tile=tile, device=device)
    return {f"lista_{side}": image for side, image in pair.items()}


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
    """The unrolled network with the ``lista`` settings (no presets: ``preset`` is None)."""
    section = settings.lista
    protocol = TrainSettings.from_preset(section, seed, iterations, checkpoint_every)
    config = ListaConfig.from_settings(section)
    terms = {
        "photograph": section.photograph_weight,
        "mixture": section.mixture_weight,
        "exclusion_weight": section.exclusion_weight,
        "levels": section.exclusion_levels,
    }
    torch.manual_seed(seed)
    model = CoupledLista(config)
    return Trainable(
        key,
        model,
        partial(lista_loss, **terms),
        ("front", "back"),
        NAME,
        protocol,
        {"method": NAME, **config.to_dict(), **terms},
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
) -> CoupledLista:
    """The trained network as it is: it needs no constant of the panel."""
    return trained[NAME].to(device)


LISTA = Method(
    NAME,
    "peer (Pu, Huang et al.): unrolled learned ISTA, the sides' edges shrunk against each other",
    trains=(NAME,),
    combine=combine,
    separator=CoupledLista,
    network=CoupledLista,
    recipe=recipe,
)
