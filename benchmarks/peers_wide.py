"""The published peers at their papers' widths beside the paper's network at its own scale.

The benchmark runs ``cae`` and ``lista`` at 8 code channels, the width a CPU affords; their
papers' (and the authors' public code's) width is 64, and the ``lista`` code unrolls 5 layers
where the CPU setting has 4 (docs/methods.md, The published peers). This runs both at those
settings on the paper-scale suite, in a scratch project (``benchmarks/out/peers-wide/``, so
the repository's records at the CPU settings stay as they are), with the baselines and
``shared`` beside them, and prints the suite's report and the command. It needs a GPU at
448²; ``--size`` makes a smaller suite to check it runs.

    uv run python benchmarks/peers_wide.py [--device cuda] [--seed 0] [--jobs 2] [--size N]
"""

from __future__ import annotations

import argparse

from xraysep.jobs.benchmark import benchmark
from xraysep.jobs.benchmark_report import PEERS_AS_PUBLISHED

from common import command, machine, scratch_project

METHODS = ["half", "linear", "shared", "cae", "lista"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, action="append", help="repeat; default: 0")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--size", type=int, help="panel side (default: the suite's, 448)")
    args = parser.parse_args()
    scratch_project("peers-wide", PEERS_AS_PUBLISHED)
    report = benchmark(
        suite_name="paper-scale", size=args.size, methods=METHODS, seeds=args.seed or [0],
        jobs=args.jobs, device=args.device,
    )  # fmt: skip
    print(report.read_text())
    print(f"settings: {PEERS_AS_PUBLISHED}; {machine()}\n{command()}")


if __name__ == "__main__":
    main()
