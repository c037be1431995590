"""A colour map whose recipe varies across the panel, one field per side: a study.

Under metamerism part of a side is painted with other recipes: its whites are chalk where
the rest are lead white, the same colour with another absorption. ``shared`` reads every
pixel's colour through one map per panel, so it learns a compromise absorption for that
white and misreads both regions (docs/benchmarks.md, stress: metamerism). Here each
member's map gains, for each side, a field of weights over its palette:
``τᵢ(y, p) = psf * softplus(Σₖ (wₖ + δᵢₖ(p)) φₖ(y) + b)``, each ``δᵢₖ`` a bilinear
surface through nodes every ``spacing`` pixels, zero at the start and pulled towards zero by
``penalty`` times the mean square of its nodes (``--sparse``: times the mean over the
fields of each one's root mean square, a group lasso that lets a few palette colours vary and
holds the rest at zero), learned with the map throughout training
(the curve's hold and the refinement as ``shared`` has them). Each side has its own field,
since a workshop's regions are the side's; the two fields start equal and enter the loss
alike, so swapping the photographs swaps them: the method stays order-invariant.

Each panel of ``--suite`` (validation by default) is made by ``synth`` and ``shared``
trained on it in this process, once as it is and once per (``--spacing``, ``--penalty``)
with the fields; every model separates with the default thickness fit at each ``--ridge``.
``--no-default`` does not train the model without fields: its row (ridge 10, the default)
is read from the benchmark's records of the same suite and seed, which the same code made.
It prints the mean front and back PSNR and crosstalk over the panels per row, each panel's
PSNR, and the command. Two panels train at a time (``--jobs``), one thread each. The fields
need the whole panel in every step (crop training covers a 256² panel).

    uv run python benchmarks/regional_map.py [--suite validation | --stress FACTOR]
        [--seed 0] [--spacing 64 ...] [--penalty 1e-4 ...] [--ridge 10 ...]
        [--panel NAME ...] [--jobs 2] [--iterations N] [--no-default] [--sparse]
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional

from xraysep import config
from xraysep.core.methods.shared import NAME
from xraysep.core.methods.shared import model as shared_model
from xraysep.core.methods.shared.model import SharedConfig, SharedModel
from xraysep.core.training import fit
from xraysep.jobs import suites

from common import command, in_processes, machine, scratch_project, table_head
from thickness_sweep import SCORE_COLUMNS, score_row, scores, variant_rows
from trained import panel_stack, shared_training, suite_panels

SPACINGS = (64,)
PENALTIES = (1e-4, 1e-3)
RIDGES = (10.0, 1.0)
SCORES = ("front_psnr", "back_psnr", "crosstalk")  # a record's, as the table shows them
SIDES = 2  # the first photograph's field, then the second's


class RegionalModel(SharedModel):
    """``shared`` with a field of palette weights per member and side over an image of
    ``shape``. It trains and separates through :class:`SharedModel`'s own ``forward`` and
    ``pairs``, each member's ``logits`` given the fields of the sides it is reading; whole
    images of that shape only."""

    def __init__(self, config: SharedConfig, shape: tuple[int, int], spacing: int) -> None:
        super().__init__(config)
        self.shape = shape
        nodes = [math.ceil(length / spacing) + 1 for length in shape]
        self.fields = nn.Parameter(torch.zeros(config.members, SIDES, config.palette, *nodes))

    def weights(self, member: int, sides: tuple[int, ...]) -> torch.Tensor:
        """Member ``member``'s weight changes on each of ``sides`` at every pixel, (S·H·W, K),
        in the pixel order of the bumps of those sides' images stacked (``Absorption.bumps``)."""
        surfaces = functional.interpolate(
            self.fields[member, list(sides)], size=self.shape, mode="bilinear", align_corners=True
        )
        return surfaces.permute(0, 2, 3, 1).reshape(-1, surfaces.shape[1])

    @contextmanager
    def reading(self, sides: Callable[[], tuple[int, ...]]) -> Iterator[None]:
        """Within it each member's ``logits`` add its fields of the ``sides()`` its bumps
        are of: ``forward`` reads both photographs stacked, ``pairs`` one after the other;
        the bumps' pieces of ``Absorption._logits_in_pieces`` are not used (with gradients)."""
        for index, member in enumerate(self.members):
            logits = member.absorption.logits

            def regional(bumps: torch.Tensor, index: int = index, logits=logits) -> torch.Tensor:
                return logits(bumps) + (bumps * self.weights(index, sides())).sum(1, keepdim=True)

            member.absorption.logits = regional
        try:
            with torch.enable_grad():
                yield
        finally:
            for member in self.members:
                del member.absorption.logits

    def forward(
        self,
        first: torch.Tensor,
        second: torch.Tensor,
        xray: torch.Tensor | None = None,
        ridge: float = 0.0,
    ) -> torch.Tensor:
        """:meth:`SharedModel.forward`: the photographs' bumps stacked, the first's fields
        then the second's."""
        with self.reading(lambda: (0, 1)):
            return super().forward(first, second, xray, ridge)

    def pairs(self, stack: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`SharedModel.pairs`, which reads the front then the back through each
        member's map in turn: the front's fields, then the back's, and again."""
        sides = itertools.cycle([(0,), (1,)])
        with self.reading(lambda: next(sides)):
            return tuple(output.detach() for output in super().pairs(stack))


def pull(fields: torch.Tensor, sparse: bool) -> torch.Tensor:
    """The fields' distance from zero: their mean square, or (``sparse``) the mean over
    (member, side, colour) of each surface's root mean square, whose pull on a surface is
    as strong when it is small as when it is large, so most colours' surfaces stay at zero."""
    if not sparse:
        return fields.square().mean()
    return fields.square().mean((-2, -1)).add(1e-12).sqrt().mean()


def train(
    name: str,
    seed: int,
    spacing: int | None,
    penalty: float,
    sparse: bool,
    iterations: int | None = None,
) -> SharedModel:
    """``shared`` trained on panel ``name`` as ``xraysep train`` trains it, with regional
    fields of nodes every ``spacing`` pixels (None: without) under :func:`pull`, offsets set
    on the panel."""
    made, sampler, whole = shared_training(name, seed, iterations, spacing is not None)
    model, settings, loss, groups = made.model, made.settings, made.loss, made.groups
    if spacing is not None:
        regional = RegionalModel(model.config, tuple(whole.shape[1:]), spacing)
        regional.load_state_dict(model.state_dict(), strict=False)
        model = regional

        def loss(net: nn.Module, batch: torch.Tensor, progress: float) -> torch.Tensor:
            return made.loss(net, batch, progress) + penalty * pull(regional.fields, sparse)

        def groups(net: nn.Module) -> list[dict]:
            maps, curves = made.groups(net)
            return [{"params": [*maps["params"], regional.fields]}, curves]

    fit(model, loss, sampler, settings, torch.device("cpu"), groups=groups)
    with torch.no_grad():
        model.set_offsets(whole[None, :3], whole[None, 3:6], whole[None, 6:])
    return model


def run(
    name: str,
    seed: int,
    spacing: int | None,
    penalty: float,
    sparse: bool,
    ridges: list[float],
    iterations: int | None,
) -> dict:
    """One panel, one variant: its scores per ridge."""
    torch.set_num_threads(1)
    model = train(name, seed, spacing, penalty, sparse, iterations)
    grid = [("plain", model.config.thickness, ridge) for ridge in ridges]
    tensor, truth = panel_stack(name)
    return scores(model, tensor, truth, {"plain": shared_model.thicken}, grid)


def recorded(chosen: suites.Suite, panels: list[str], seed: int) -> dict[str, dict]:
    """``shared``'s scores per panel as the benchmark's record of ``chosen`` at ``seed`` has
    them, each record checked to be this code's and these settings' (its fingerprint); read
    before the scratch project becomes the root."""
    rows = {}
    for panel in panels:
        task = suites.Task(chosen, panel, seed, (NAME,), device=None, parent_run=None)
        record = suites.cached(task.record_path(NAME), task.fingerprint([NAME]))
        if record is None:
            raise SystemExit(
                f"{task.record_path(NAME)}: no record made by this code; run the benchmark "
                "first, or leave out --no-default"
            )
        rows[panel] = record["rows"][NAME]
    return rows


def label(spacing: int | None, penalty: float, sparse: bool) -> str:
    """A variant as the table and the progress lines name it."""
    pulled = "sparse penalty" if sparse else "penalty"
    return "none" if spacing is None else f"every {spacing} px, {pulled} {penalty:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="validation")
    parser.add_argument("--stress", metavar="FACTOR", help="a stress suite instead of --suite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spacing", type=int, action="append", help="node spacing (repeatable)")
    parser.add_argument("--penalty", type=float, action="append", help="pull to 0 (repeatable)")
    parser.add_argument("--ridge", type=float, action="append", help="ridge (repeatable)")
    parser.add_argument("--panel", action="append", help="only this panel (repeatable)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--iterations", type=int, help="instead of shared.iterations")
    parser.add_argument(
        "--no-default", action="store_true", help="skip shared without fields (its records)"
    )
    parser.add_argument("--sparse", action="store_true", help="a group lasso over the palette")
    args = parser.parse_args()
    variants = [] if args.no_default else [(None, 0.0, False)]
    variants += [
        (spacing, penalty, args.sparse)
        for spacing in args.spacing or SPACINGS
        for penalty in args.penalty or PENALTIES
    ]
    ridges = args.ridge or list(RIDGES)
    began = time.perf_counter()
    chosen = suites.stress_suite(args.stress) if args.stress else suites.suite(args.suite)
    panels = [panel for panel in chosen.panels if not args.panel or panel in args.panel]
    record = recorded(chosen, panels, args.seed) if args.no_default else {}
    scratch_project("regional-map")
    names = suite_panels(chosen, args.panel)
    tasks = {
        (panel, variant): (run, (name, args.seed, *variant, ridges, args.iterations))
        for panel, name in names.items()
        for variant in variants
    }
    results = in_processes(tasks, args.jobs, lambda key: f"{key[0]}, fields {label(*key[1])}")
    print(f"\n{chosen.name}: {len(names)} panels, seed {args.seed}, shared with and without "
          f"regional fields, {args.jobs} at a time, one thread each; {machine()}; "
          f"{(time.perf_counter() - began) / 60:.1f} min\n")  # fmt: skip
    print(table_head({"fields": "---", "ridge": "---:"} | SCORE_COLUMNS, list(names)))
    if record:
        rows = [tuple(row[key] for key in SCORES) for row in record.values()]
        ridge = config.settings().shared.ridge
        print(score_row(f"none (the benchmark's record) | {ridge:g}", rows))
    for row in variant_rows(
        results, list(names), variants, lambda variant, key: f"{label(*variant)} | {key[2]:g}"
    ):
        print(row)
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
