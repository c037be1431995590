"""The hidden layer and the uncertainty map, factor by factor: do they flag what they should?

For each factor of the simulator (docs/benchmarks.md, Physics), one panel with that factor
alone at the given strength, on the stress suite's pictures and seed
(``params.yaml: benchmark.stress.panel``), plus the colour-determined panel; each method runs
through ``xraysep pipeline`` (train, combine, separate, evaluate) and its own result is
scored by evaluate: PSNR per side, the hidden layer's correlation with the true hidden
content and each side's leak of it (``core.hidden``), and the correlation of the
uncertainty map with the absolute error (``core.uncertainty``), which should be positive for
every factor. For ``shared`` the same correlation of each candidate map of
``uncertainty_maps.py`` (its members' spread, the map it wrote before; the hidden layer's
local magnitude; the sides' contrast; their sums) is scored beside it, from the same
trained model. Prints one row per factor and method, then the candidates' table, and the
command.

    uv run python benchmarks/trust_maps.py [--size 128] [--method shared ...]
"""

from __future__ import annotations

import argparse
import json
import time

from xraysep import config
from xraysep.jobs.pipeline import pipeline
from xraysep.jobs.synth import synth

from common import command, machine, scratch_project
from trained import trained_panel
from uncertainty_maps import correlations

FACTORS = {  # factor: strength, each within its documented range
    "none": 0.0,
    "metamerism": 0.3,
    "layering": 0.35,
    "underpainting": 0.6,
    "ground": 0.6,
    "support": 0.8,
    "misregistration": 2.0,
    "film-response": 0.7,
}
COLUMNS = ("front_psnr", "back_psnr", "hidden_corr", "front_hidden_leak", "back_hidden_leak",
           "uncertainty_error_corr")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--method", action="append", help="repeat; default: shared")
    args = parser.parse_args()
    methods = args.method or ["shared"]
    scratch_project("trust-maps")
    picture = config.settings().benchmark.stress.panel.values()
    picture.pop("factors", None)
    rows, candidates = [], {}
    for factor, strength in FACTORS.items():
        name = f"trust-{factor}"
        factors = {} if factor == "none" else {factor: strength}
        synth(name, size=args.size, **picture, factors=factors, overwrite=True)
        for method in methods:
            began = time.perf_counter()
            metrics = pipeline(name, method=method)
            own = next(iter(metrics.values()))
            if method == "shared":
                candidates[factor] = correlations(*trained_panel(name))
            rows.append((factor, strength, method, own, time.perf_counter() - began))
    print(f"\n{args.size}² panels, {json.dumps(picture)}; {machine()}\n")
    print("| factor | strength | method | " + " | ".join(COLUMNS) + " | seconds |")
    print("| --- | ---: | --- |" + " ---: |" * (len(COLUMNS) + 1))
    for factor, strength, method, own, seconds in rows:
        cells = " | ".join(f"{own[key]:.3f}" if key in own else "" for key in COLUMNS)
        print(f"| {factor} | {strength:g} | {method} | {cells} | {seconds:.0f} |")
    if candidates:
        keys = list(next(iter(candidates.values())))
        print("\nshared: each candidate map's correlation with the absolute error\n")
        print("| factor | " + " | ".join(keys) + " |")
        print("| --- |" + " ---: |" * len(keys))
        for factor, scores in candidates.items():
            print(f"| {factor} | " + " | ".join(f"{scores[key]:+.3f}" for key in keys) + " |")
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
