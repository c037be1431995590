"""Benchmark panels made and trained in memory, for studies that run a model's own parts on them.

Kept apart from ``common`` so that only these studies import torch: the benchmarks that
measure a stage's peak memory must not count it.
"""

from __future__ import annotations

import numpy as np
import torch

from xraysep import config
from xraysep.core.methods.base import Trainable
from xraysep.core.methods.shared import SHARED
from xraysep.core.separator import Separator, stack
from xraysep.core.training import Sampler
from xraysep.io import checkpoints, store
from xraysep.jobs import suites
from xraysep.jobs.synth import synth
from xraysep.jobs.train import make_sampler, panel_reader


def suite_panels(chosen: suites.Suite, only: list[str] | None) -> dict[str, str]:
    """Each panel of ``chosen`` (those in ``only`` where given) made by ``synth`` in the
    current project as ``<suite>-<panel>``, panel to that name: the panels a study trains on."""
    names = {}
    for panel, settings in chosen.panels.items():
        if not only or panel in only:
            names[panel] = f"{chosen.name}-{panel}"
            synth(names[panel], size=chosen.size, **settings, overwrite=True)
    return names


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


def shared_training(
    name: str, seed: int, iterations: int | None, whole_steps: bool
) -> tuple[Trainable, Sampler, torch.Tensor]:
    """``shared``'s recipe for panel ``name`` as ``xraysep train`` makes it, the sampler of
    its training steps and the panel's whole (7, H, W) stack: studies change the recipe's
    model, loss or groups before they train. ``whole_steps``: the change needs the whole
    panel in every step (a field over the panel), else it stops with the reason."""
    panel = store.open_panel(config.paths(name).store, name)
    made = SHARED.recipe(
        "shared",
        panel,
        settings=config.settings(),
        preset=None,
        seed=seed,
        iterations=iterations,
        checkpoint_every=0,
    )
    read = panel_reader(panel, made.slots, in_memory=True)
    sampler = make_sampler(made.settings, read, panel.shape, seed)
    if whole_steps and not sampler.covers:
        raise SystemExit(f"{name}: the study needs whole-panel steps, crop {made.settings.crop}")
    return made, sampler, read(slice(None), slice(None))
