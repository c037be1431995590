"""A smooth hidden depth inside the shared method's exponent, learned with the map: a study.

Every panel has absorbers under both sides that no photograph shows (the support, a ground
of uneven thickness, a cradle, an underpainting). ``shared`` fits its map and mixing curve to
the mixture alone, so such an absorber either bends the map or is read as weaker paint
(docs/methods.md, The shared map). Here training adds one smooth field ``η`` per panel
inside the exponent, ``x̂ = a + B (1 − exp(−k (τ₁ + τ₂ + η))) / k``: a bilinear surface
through a grid of nodes every ``spacing`` pixels, zero in the mean (a constant belongs to
the curve), learned throughout training with the map, and inside the refinement's thickness
fit too. A separation-time fit over a window cannot tell such a layer from paint of even
thickness (the "hidden depth per window" of docs/methods.md); whether a field fitted with the
map is told apart from paint, by the curve's curvature and by the map being one colour map
for the whole panel, is this study's question.

Each panel of ``--suite`` (validation by default) is made by ``synth`` and ``shared`` trained
on it in this process, once as it is and once per ``--spacing`` with the field; each model
separates with the default thickness fit (``plain``: the field is a training nuisance
only) and, for the field's models, with the field taken out of the residual first
(``less field``), at each ``--ridge``. It prints the mean front and back PSNR and crosstalk
over the panels per row, each panel's PSNR, and the command. Two panels train at a time
(``--jobs``), one thread each. The field needs the whole panel in every step (crop training
covers a 256² panel).

    uv run python benchmarks/hidden_depth.py [--suite validation] [--seed 0]
        [--spacing 32 ...] [--ridge 10 ...] [--panel NAME ...] [--jobs 2] [--iterations N]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional

from xraysep.core.methods.shared import model as shared_model
from xraysep.core.methods.shared.model import BeerLambert, SharedModel
from xraysep.core.training import fit
from xraysep.jobs import suites

from common import command, in_processes, machine, scratch_project, table_head
from thickness_sweep import SCORE_COLUMNS, scores, variant_rows
from trained import panel_stack, shared_training, suite_panels

SPACINGS = (32, 64)
RIDGES = (10.0, 3.0, 1.0)


class HiddenField(nn.Module):
    """A zero-mean bilinear surface over an image of ``shape``, nodes every ``spacing``
    pixels: a depth under both sides, smooth by construction."""

    def __init__(self, shape: tuple[int, int], spacing: int) -> None:
        super().__init__()
        self.shape = shape
        nodes = [math.ceil(length / spacing) + 1 for length in shape]
        self.nodes = nn.Parameter(torch.zeros(1, 1, *nodes))

    def forward(self) -> torch.Tensor:
        field = functional.interpolate(
            self.nodes, size=self.shape, mode="bilinear", align_corners=True
        )
        return field - field.mean()


class Shifted(nn.Module):
    """A member's mixing curve with the hidden depth added inside its exponent. The field is
    held as a function, not a child module, so the curve's parameter group (held during the
    refinement, ``shared_groups``) stays the curve's alone."""

    def __init__(self, curve: BeerLambert, hidden: Callable[[], torch.Tensor]) -> None:
        super().__init__()
        self.curve, self.hidden = curve, hidden

    def forward(self, depth: torch.Tensor) -> torch.Tensor:
        return self.curve(depth + self.hidden())

    def depth(self, grey: torch.Tensor) -> torch.Tensor:
        return self.curve.depth(grey) - self.hidden()


def train(
    name: str, seed: int, spacing: int | None, iterations: int | None = None
) -> tuple[SharedModel, torch.Tensor | None]:
    """``shared`` trained on panel ``name`` as ``xraysep train`` trains it, with a hidden
    field of nodes every ``spacing`` pixels inside the exponent (None: without); the model
    with its own curves back in place, offsets set on the panel, and the field."""
    made, sampler, whole = shared_training(name, seed, iterations, spacing is not None)
    model, settings = made.model, made.settings
    groups = made.groups
    field = None
    if spacing is not None:
        field = HiddenField(tuple(whole.shape[1:]), spacing)
        for member in model.members:
            member.mixing = Shifted(member.mixing, field.forward)
        groups = lambda net: [*made.groups(net), {"params": list(field.parameters())}]  # noqa: E731
    fit(model, made.loss, sampler, settings, torch.device("cpu"), groups=groups)
    if field is not None:
        for member in model.members:
            member.mixing = member.mixing.curve
    with torch.no_grad():
        model.set_offsets(whole[None, :3], whole[None, 3:6], whole[None, 6:])
        hidden = None if field is None else field().detach()
    return model, hidden


def less_field(hidden: torch.Tensor) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """The plain thickness fit of the residual with the hidden field taken out first."""
    plain = shared_model.thicken

    def thicken(
        first: torch.Tensor, second: torch.Tensor, residual: torch.Tensor, radius: int, ridge: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return plain(first, second, residual - hidden, radius, ridge)

    return thicken


def run(
    name: str, seed: int, spacing: int | None, ridges: list[float], iterations: int | None
) -> dict:
    """One panel, one variant: its scores per (fit, radius, ridge)."""
    torch.set_num_threads(1)
    model, hidden = train(name, seed, spacing, iterations)
    fits = {"plain": shared_model.thicken}
    if hidden is not None:
        fits["less field"] = less_field(hidden)
    radius = model.config.thickness
    grid = [(fit, radius, ridge) for fit in fits for ridge in ridges]
    tensor, truth = panel_stack(name)
    return scores(model, tensor, truth, fits, grid)


def nodes(spacing: int | None) -> str:
    """The field's nodes, as the table and the progress lines name them."""
    return "none" if spacing is None else f"every {spacing} px"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="validation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spacing", type=int, action="append", help="node spacing (repeatable)")
    parser.add_argument("--ridge", type=float, action="append", help="ridge (repeatable)")
    parser.add_argument("--panel", action="append", help="only this panel (repeatable)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--iterations", type=int, help="instead of shared.iterations")
    args = parser.parse_args()
    spacings, ridges = [None, *(args.spacing or SPACINGS)], args.ridge or list(RIDGES)
    began = time.perf_counter()
    scratch_project("hidden-depth")
    chosen = suites.suite(args.suite)
    names = suite_panels(chosen, args.panel)
    tasks = {
        (panel, spacing): (run, (name, args.seed, spacing, ridges, args.iterations))
        for panel, name in names.items()
        for spacing in spacings
    }
    results = in_processes(tasks, args.jobs, lambda key: f"{key[0]}, field {nodes(key[1])}")
    print(f"\n{args.suite}: {len(names)} panels, seed {args.seed}, shared with and without a "
          f"hidden field, {args.jobs} at a time, one thread each; {machine()}; "
          f"{(time.perf_counter() - began) / 60:.1f} min\n")  # fmt: skip
    columns = {"field nodes": "---", "fit": "---", "ridge": "---:"} | SCORE_COLUMNS
    print(table_head(columns, list(names)))
    for row in variant_rows(
        results,
        list(names),
        spacings,
        lambda spacing, key: f"{nodes(spacing)} | {key[0]} | {key[2]:g}",
    ):
        print(row)
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
