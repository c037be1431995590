"""Does the shared method's training objective prefer the true colour map? Why it refines.

For every panel of a benchmark suite, one ``shared`` member (the recipe's palette and
settings) is scored by its colour map alone (no thickness fit, so only the map is judged) in
four states:

- *oracle*: the map fitted by supervision to the simulator's own per-colour depths
  (``colour_oracle.oracle_depth``), then its mixing curve fitted under the training loss;
- *oracle, trained on*: that member trained further under the plain loss for as many steps
  as training spends before its refinement;
- *plain*: trained from scratch under the plain loss for the same number of steps;
- *refined*: trained from scratch as ``params.yaml: shared`` says (the refinement included).

If the oracle's loss is higher than the trained maps' and training on from it walks back to
their crosstalk, the mixture alone prefers the leaky map: that is what the refinement (each
side's thickness fitted inside the loss, the curve held) is for.

    uv run python benchmarks/map_objective.py [--suite panels|validation] [--size 96]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from functools import partial

import numpy as np
import torch
import yaml

from xraysep import config
from xraysep.core.methods.base import Trainable
from xraysep.core.methods.shared import recipe
from xraysep.core.methods.shared.model import SharedModel, shared_loss
from xraysep.core.metrics import score
from xraysep.core.separator import BACK, FRONT
from xraysep.core.training import fit, stack_reader, to_stack
from xraysep.io import store
from xraysep.jobs.synth import synth
from xraysep.jobs.train import make_sampler

from colour_oracle import oracle_depth
from common import REPO, command, scratch_project

CPU = torch.device("cpu")
STATES = ("oracle", "oracle, trained on", "plain", "refined")


def map_only(model: SharedModel, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The first member's front and back from its colour map alone, no thickness fit."""
    member = model.members[0]
    with torch.no_grad():
        front, back = (member.mixing(member.absorption(batch[:, s])) for s in (FRONT, BACK))
    return front[0, 0].numpy(), back[0, 0].numpy()


def fit_oracle(model: SharedModel, batch: torch.Tensor, depths: torch.Tensor, scale: float):
    """Member 0's map fitted to the oracle depths (squared error), then its curve alone to the
    mixture under the training loss."""
    member = model.members[0]
    optimiser = torch.optim.Adam(member.absorption.parameters(), lr=0.05)
    photographs = torch.cat([batch[:, FRONT], batch[:, BACK]])
    for _ in range(1500):
        optimiser.zero_grad()
        ((member.absorption(photographs) - depths) ** 2).mean().backward()
        optimiser.step()
    optimiser = torch.optim.Adam(member.mixing.parameters(), lr=0.05)
    for _ in range(800):
        optimiser.zero_grad()
        shared_loss(model, batch, 0.0, scale).backward()
        optimiser.step()


def train_plain(made: Trainable, batch: torch.Tensor, shape: tuple[int, int], refine: float):
    """Train the recipe's model under the plain loss (no refinement) for the steps the
    configured training spends before its refinement."""
    steps = round(made.settings.iterations * (1 - refine))
    settings = dataclasses.replace(made.settings, iterations=steps)
    sampler = make_sampler(settings, stack_reader(batch[0]), shape, settings.seed)
    fit(made.model, partial(shared_loss, scale=made.description["robust"]), sampler, settings, CPU)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("test", "validation"), default="test")
    parser.add_argument("--size", type=int, default=None)
    args = parser.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    suite, refine = params["benchmark"], float(params["shared"]["refine"])
    size = args.size or int(suite["size"])
    root = scratch_project("map-objective", {"shared": {"members": 1}})
    rows: dict[str, dict[str, tuple[float, dict]]] = {}
    for name, physics in suite["suites"][args.suite]["panels"].items():
        synth(name, size=size, **physics, overwrite=True)
        panel = store.open_panel(root / "data" / "panels" / f"{name}.zarr", name)
        batch = to_stack(panel.rgb("front"), panel.rgb("back"), panel.xray())[None]
        depths = torch.from_numpy(
            np.stack([oracle_depth(panel.rgb(side)) for side in ("front", "back")])
        )[:, None]
        made = [
            recipe(
                "shared",
                panel,
                settings=config.settings(),
                preset=None,
                seed=0,
                iterations=None,
                checkpoint_every=0,
            )
            for _ in STATES[1:]
        ]
        scale = made[0].description["robust"]
        fit_oracle(made[0].model, batch, depths, scale)
        models = {"oracle": copy.deepcopy(made[0].model)}
        train_plain(made[0], batch, panel.shape, refine)
        train_plain(made[1], batch, panel.shape, refine)
        settings = made[2].settings
        sampler = make_sampler(settings, stack_reader(batch[0]), panel.shape, settings.seed)
        fit(made[2].model, made[2].loss, sampler, settings, CPU, groups=made[2].groups)
        models |= {state: m.model for state, m in zip(STATES[1:], made, strict=True)}
        rows[name] = {}
        for state, model in models.items():
            with torch.no_grad():
                loss = shared_loss(model, batch, 0.0, scale).item()
            truth = panel.truth("front"), panel.truth("back")
            rows[name][state] = (loss, score(panel.xray(), *map_only(model, batch), *truth))
        print(name, " | ".join(f"{s} {rows[name][s][1]['crosstalk']:.3f}" for s in STATES))

    print(f"\none shared member's colour map alone, {args.suite} suite, {size}×{size} panels:")
    print("plain training loss ×10⁵ (Cauchy, scale shared.robust) and crosstalk")
    print("| panel | " + " | ".join(STATES) + " |")
    print("| --- |" + " ---: |" * len(STATES))
    for name, states in rows.items():
        cells = (f"{states[s][0] * 1e5:.2f}, {states[s][1]['crosstalk']:.3f}" for s in STATES)
        print(f"| {name} | " + " | ".join(cells) + " |")
    means = (
        f"{np.mean([r[s][1]['front_psnr'] for r in rows.values()]):.2f} / "
        f"{np.mean([r[s][1]['back_psnr'] for r in rows.values()]):.2f} dB, "
        f"{np.mean([r[s][1]['crosstalk'] for r in rows.values()]):.3f}"
        for s in STATES
    )
    print("| mean PSNR, crosstalk | " + " | ".join(means) + " |")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
