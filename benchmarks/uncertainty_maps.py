"""Which per-pixel map flags where ``shared`` is wrong: its uncertainty map and candidates.

``shared``'s uncertainty map is how far the thickness fit moved the sides from their colours
(docs/methods.md, Uncertainty). Under underpainting its correlation with the error falls to
zero and below, because most of that error is a contrast deficit over the whole panel
(docs/benchmarks.md, Results), which a map of the fit's moves cannot rank. This study
scores, on every panel and seed a suite's run left a trained ``shared`` model for
(``models/<panel>/trained/shared.pt``), the correlation with the pair's per-pixel absolute
error (``core.uncertainty``, as the benchmark scores it) of:

- ``moved``: the map as it is;
- ``hidden``: the mean absolute hidden layer (the X-ray less the sides' mixture, less its
  median) over the thickness window: content neither photograph explains, which the sides
  may have taken part of;
- ``contrast``: ``CONTRAST`` times each side's distance from its own mean over the panel:
  where a wrong gain errs most;
- ``attenuation``: the ``hidden`` term times that distance times the mixing curve's
  saturation ``k`` (the members' mean): under Beer–Lambert an absorber no photograph shows
  flattens each side's contrast where it lies by about ``k`` times its depth, so a side
  errs there in proportion to its distance from its mean; no constant is chosen;
- ``ambiguity``: how far the sides move when the thickness fit's ridge is loosened to
  ``LOOSE``: where the split rests on the ridge rather than the X-ray;

and their sums (the members' spread beside them, the map ``shared`` wrote before), each
term in X-ray units, as a separation could compute them tile by tile (the sides' means are
the panel's, known once the offsets are set). It prints the mean correlation per panel over
the seeds found, the suite's mean, and the command.

    uv run python benchmarks/uncertainty_maps.py [--suite validation | --stress FACTOR]
"""

from __future__ import annotations

import argparse
import copy
from collections import defaultdict
from dataclasses import replace

import numpy as np
import torch
from torch.nn import functional

from xraysep import config
from xraysep.core import uncertainty
from xraysep.core.filters import box_mean
from xraysep.core.methods.shared.model import SharedModel
from xraysep.core.separator import XRAY
from xraysep.io import checkpoints, store
from xraysep.jobs.suites import stress_suite, suite

from common import command
from trained import panel_stack

CONTRAST = 0.3  # the gain error the contrast term stands for: shared's is 0.1-0.7
LOOSE = 0.3  # the thickness fit's ridge for the ambiguity term: 30 times looser than 10


def ambiguity(
    model: SharedModel, tensor: torch.Tensor, fronts: torch.Tensor, backs: torch.Tensor
) -> np.ndarray:
    """How far the members' ``fronts`` and ``backs`` (``model.pairs`` of ``tensor``) move when
    the thickness fit's ridge is loosened to ``LOOSE``, the mean over both sides and the
    members: where the split rests on the ridge, not the X-ray."""
    loose = copy.copy(model)  # the same members, another ridge
    loose.config = replace(model.config, ridge=LOOSE)
    with torch.no_grad():
        loose_fronts, loose_backs, *_ = loose.pairs(tensor)
    moved = ((loose_fronts - fronts).abs() + (loose_backs - backs).abs()) / 2
    return moved.mean(0)[0, 0].numpy()


def candidate_maps(model: SharedModel, tensor: torch.Tensor) -> tuple[dict, tuple]:
    """The candidate maps of a trained ``shared`` model on a (1, 7, H, W) stack, with the
    members' spread (the map it wrote before the fit's move replaced it) beside them, and
    the members' mean pair."""
    with torch.no_grad():
        fronts, backs, mixtures, moved = model.pairs(tensor)
        loosened = ambiguity(model, tensor, fronts, backs)
        spread = (fronts.std(0, correction=0) + backs.std(0, correction=0))[0, 0] / 2
        fronts, backs, mixtures, moved = (t.mean(0)[0] for t in (fronts, backs, mixtures, moved))
        hidden = tensor[0, XRAY] - mixtures
        hidden = box_mean((hidden - hidden.median()).abs()[None], model.config.thickness)[0]
    front, back = fronts[0].double().numpy(), backs[0].double().numpy()
    distance = (np.abs(front - front.mean()) + np.abs(back - back.mean())) / 2
    terms = {"moved": moved[0].numpy(), "hidden": hidden[0].numpy()}
    terms["contrast"] = CONTRAST * distance
    terms["attenuation"] = saturation(model) * terms["hidden"] * distance
    terms["ambiguity"] = loosened
    maps = (
        {"spread": spread.numpy()}
        | terms
        | {
            "moved + hidden": terms["moved"] + terms["hidden"],
            "moved + contrast": terms["moved"] + terms["contrast"],
            "all three": terms["moved"] + terms["hidden"] + terms["contrast"],
            "moved + attenuation": terms["moved"] + terms["attenuation"],
            "moved + ambiguity": terms["moved"] + terms["ambiguity"],
        }
    )
    return maps, (front, back)


def saturation(model: SharedModel) -> float:
    """The members' mean saturation ``k`` of their mixing curves (``BeerLambert``)."""
    return float(
        np.mean([functional.softplus(m.mixing.saturation).item() + 1e-3 for m in model.members])
    )


def correlations(model: SharedModel, tensor: torch.Tensor, truth: tuple) -> dict[str, float]:
    """Each candidate map's correlation with the pair's absolute error against ``truth``
    (front, back), as ``core.uncertainty`` scores it."""
    maps, pair = candidate_maps(model, tensor)
    scores = {key: uncertainty.scores(image, *pair, *truth) for key, image in maps.items()}
    return {key: score["uncertainty_error_corr"] for key, score in scores.items()}


def panel_correlations(name: str) -> dict[str, float] | None:
    """:func:`correlations` on panel ``name`` with the ``shared`` model a suite's run trained
    there; None where it left no such model or panel."""
    where = config.paths(name)
    model_path = where.trained_model("shared")
    if not model_path.is_file() or not store.panel_exists(where.store):
        return None
    model, _ = checkpoints.load_trained(model_path, "shared")
    return correlations(model, *panel_stack(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="validation", help="test or validation")
    parser.add_argument("--stress", help="a stress suite's factor instead of a suite")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a study of maps, not of speed: leave the other core free
    chosen = stress_suite(args.stress) if args.stress else suite(args.suite)
    found: dict[str, list[dict[str, float]]] = defaultdict(list)
    for panel in chosen.panels:
        for seed in config.settings().benchmark.seeds:
            scores = panel_correlations(f"{chosen.prefix}{panel}-t{seed}")
            if scores is not None:
                found[panel].append(scores)
    if not found:
        raise SystemExit(f"{chosen.name}: no trained shared model here; run the suite first")
    keys = list(next(iter(found.values()))[0])
    print(f"\n{chosen.name}: correlation of each map with shared's absolute error\n")
    print("| panel | seeds | " + " | ".join(keys) + " |")
    print("| --- | ---: |" + " ---: |" * len(keys))
    means = []
    for panel, values in found.items():
        mean = {key: float(np.mean([v[key] for v in values])) for key in keys}
        means.append(mean)
        print(f"| {panel} | {len(values)} | " + " | ".join(f"{mean[k]:+.2f}" for k in keys) + " |")
    cells = " | ".join(f"{np.mean([m[k] for m in means]):+.2f}" for k in keys)
    print(f"| mean | | {cells} |")
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
