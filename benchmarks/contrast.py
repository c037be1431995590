"""How much of each method's error is contrast: the benchmark's pairs, each side rescaled.

The benchmark scores a side after removing its offset, which cannot be identified; its gain
can be, in principle (the sides must explain the mixture), so it is scored. This splits a
side's error in two: the gain ``g = cov(estimate, truth) / var(estimate)`` that would best fit
the truth (1: the contrast is right; above 1: the side is too flat), and the PSNR the side
would score at that gain (what its shapes alone are worth). The difference is what a wrong
contrast costs. Reads the separated pairs the benchmark keeps (``data/benchmark/``) and the
panels' truth (``data/panels/``), so run the suite first; prints one row per method (the
median gain over panels and seeds, the mean PSNR as scored and at the best gain), one row per
panel of ``--method``, and the command.

    uv run python benchmarks/contrast.py [--suite test | --stress FACTOR] [--method shared]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from xraysep import config
from xraysep.core.metrics import side
from xraysep.io import store
from xraysep.jobs.suites import Suite, Task, groups, stress_suite, suite

from common import command

SIDES = ("front", "back")


def gain(estimate: np.ndarray, truth: np.ndarray) -> float:
    """The factor on ``estimate`` (offset free) that best fits ``truth`` in least squares."""
    covariance = np.cov(estimate.ravel(), truth.ravel())
    return float(covariance[0, 1] / covariance[0, 0])


def rows(chosen: Suite, methods: list[str]) -> tuple[dict[tuple[str, str, int], dict], int]:
    """``{(label, panel, seed): {side: (gain, psnr, psnr at that gain)}}`` of every pair the
    benchmark kept for ``chosen``, and how many groups' pairs were missing."""
    found: dict[tuple[str, str, int], dict] = {}
    missing = 0
    for panel in chosen.panels:
        for seed in config.settings().benchmark.seeds:
            task = Task(chosen, panel, seed, tuple(methods), None, None)
            where = config.paths(task.store_name)
            paths = [task.pairs_path(group) for group in groups(methods)]
            kept = [path for path in paths if path.is_file()]
            missing += len(paths) - len(kept)
            if not kept or not store.panel_exists(where.store):
                continue
            loaded = store.open_panel(where.store, task.store_name)
            truth = {name: loaded.truth(name).astype(np.float64) for name in SIDES}
            for path in kept:
                pairs = np.load(path)
                for label in pairs.files:
                    scores = {}
                    for index, name in enumerate(SIDES):
                        estimate = pairs[label][index].astype(np.float64)
                        own, other = truth[name], truth[SIDES[1 - index]]
                        best = gain(estimate, own)
                        scores[name] = (
                            best,
                            side(estimate, own, other)["psnr"],
                            side(estimate * best, own, other)["psnr"],
                        )
                    found[(label, panel, seed)] = scores
    return found, missing


def pair_cells(values: list[dict], index: int, form: str) -> str:
    """``front / back`` of column ``index`` over ``values``: the median gain, mean PSNRs."""
    reduce = np.median if index == 0 else np.mean
    return " / ".join(form.format(reduce([v[name][index] for v in values])) for name in SIDES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="test", help="test or validation")
    parser.add_argument("--stress", help="a stress suite's factor instead of a suite")
    parser.add_argument("--method", default="shared", help="the method of the per-panel table")
    args = parser.parse_args()
    chosen = stress_suite(args.stress) if args.stress else suite(args.suite)
    found, missing = rows(chosen, list(config.settings().benchmark.methods))
    by_label: dict[str, list[dict]] = defaultdict(list)
    for (label, _, _), scores in found.items():
        by_label[label].append(scores)
    print(f"\n{chosen.name}: {len(found)} pairs ({missing} groups' pairs not kept here)\n")
    print("| method | pairs | median gain (front / back) | PSNR dB | at the best gain | lost |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, values in by_label.items():
        lost = np.mean([v[name][2] - v[name][1] for v in values for name in SIDES])
        print(
            f"| {label} | {len(values)} | {pair_cells(values, 0, '{:.2f}')} | "
            f"{pair_cells(values, 1, '{:.2f}')} | {pair_cells(values, 2, '{:.2f}')} | "
            f"{lost:.2f} |"
        )
    print(f"\n| panel ({args.method}) | gain (front / back) | PSNR dB | at the best gain |")
    print("| --- | ---: | ---: | ---: |")
    for panel in chosen.panels:
        values = [s for (label, p, _), s in found.items() if label == args.method and p == panel]
        if values:
            print(
                f"| {panel} | {pair_cells(values, 0, '{:.2f}')} | "
                f"{pair_cells(values, 1, '{:.2f}')} | {pair_cells(values, 2, '{:.2f}')} |"
            )
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
