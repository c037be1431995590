"""What a separation method is to the jobs: a name, what it trains, how it combines.

A method is a :class:`Method` entry in ``core.methods.REGISTRY``. The jobs know nothing
else about it: ``train`` asks it for a :class:`Trainable` per network it trains, ``combine``
hands it the trained networks (loaded from their files) and a window of the panel and gets
its separator back (``core.separator``), and model files are saved and loaded through the
``KIND``, ``to_config`` and ``from_config`` that every model class carries. So adding a
method touches its own module, its registry entry, its ``params.yaml`` section and its tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from xraysep.core.separator import Separator
from xraysep.core.training import Loss, TrainSettings, parameter_count
from xraysep.settings import Settings

Window = tuple[slice, slice]


class PanelView(Protocol):
    """What a method reads of a panel: (h, w, 3) photographs and the (h, w) stretched X-ray,
    whole or in a window (``io.store.Panel`` is one)."""

    @property
    def shape(self) -> tuple[int, int]: ...

    def rgb(self, side: str, ys: slice = ..., xs: slice = ...) -> np.ndarray: ...
    def xray(self, ys: slice = ..., xs: slice = ...) -> np.ndarray: ...


# (panel, window, tile, device) -> the trained model's named images of the window
Images = Callable[[PanelView, Window, int, torch.device], dict[str, np.ndarray]]


@dataclass
class Trainable:
    """One network of a method, ready for the training loop (``core.training.fit``).

    ``slots`` names the photograph each of the model's two inputs reads; ``description`` is
    its architecture (logged to MLflow and part of the resume fingerprint); ``images`` turns
    the trained model into the two named images whose sum should be the X-ray of a window,
    for the run's metrics and previews."""

    key: str
    model: nn.Module
    loss: Loss
    slots: tuple[str, str]
    preset: str
    settings: TrainSettings
    description: dict[str, Any]
    halo: int
    images: Images
    groups: Callable[[nn.Module], list[dict]] | None = None  # the optimiser's, if not one

    def params(self) -> dict[str, Any]:
        """What MLflow records about the architecture."""
        flat = {
            k: ",".join(map(str, v)) if isinstance(v, list) else v
            for k, v in self.description.items()
        }
        return flat | {"parameters": parameter_count(self.model)}


class Recipe(Protocol):
    """Builds the :class:`Trainable` of network ``key`` on ``panel``; ``settings`` is the
    whole of ``params.yaml``, ``preset`` the ``--preset`` given (None: the default)."""

    def __call__(
        self,
        key: str,
        panel: PanelView,
        *,
        settings: Settings,
        preset: str | None,
        seed: int,
        iterations: int | None,
        checkpoint_every: int,
    ) -> Trainable: ...


class Combine(Protocol):
    """Builds the method's separator from its trained networks (by key), with the constants
    it needs measured on ``window``, an (h, w, 7) stack of the panel (``core.separator``)."""

    def __call__(
        self,
        trained: Mapping[str, nn.Module],
        window: np.ndarray,
        *,
        settings: Settings,
        tile: int,
        device: torch.device,
    ) -> Separator: ...


@dataclass(frozen=True)
class Method:
    """A separation method as the jobs see it.

    ``trains`` lists the keys of the networks it trains, each an instance of ``network``
    saved as its own model file; ``recipe`` builds each of them for training; ``combine``
    makes its separator, an instance of ``separator``; ``presets`` says whether its networks
    take a training preset of ``params.yaml`` (``--preset``). Model classes carry ``KIND``
    (the kind a model file records), ``to_config`` and ``from_config``."""

    name: str
    summary: str
    trains: tuple[str, ...]
    combine: Combine
    separator: type[nn.Module]
    network: type[nn.Module] | None = None
    recipe: Recipe | None = None
    presets: bool = False
