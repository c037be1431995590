"""A trained benchmark panel in memory, for studies that run a model's own parts on it.

Kept apart from ``common`` so that only these studies import torch: the benchmarks that
measure a stage's peak memory must not count it.
"""

from __future__ import annotations

import numpy as np
import torch

from xraysep import config
from xraysep.core.separator import Separator, stack
from xraysep.io import checkpoints, store


def panel_stack(name: str) -> tuple[torch.Tensor, tuple[np.ndarray, np.ndarray]]:
    """Panel ``name``'s whole stack as a (1, 7, H, W) tensor, and its true front and back
    X-rays."""
    panel = store.open_panel(config.paths(name).store, name)
    photographs = stack(panel.rgb("front"), panel.rgb("back"), panel.xray())
    tensor = torch.from_numpy(photographs.transpose(2, 0, 1)[None])
    return tensor, (panel.truth("front"), panel.truth("back"))


def trained_panel(name: str) -> tuple[Separator, torch.Tensor, tuple[np.ndarray, np.ndarray]]:
    """Panel ``name``'s combined model, and :func:`panel_stack`."""
    model, _ = checkpoints.load_separator(config.paths(name).combine_model)
    return model, *panel_stack(name)
