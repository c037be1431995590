"""Peak memory of the real model server under a swamping load, with its limits as the
environment sets them (``XRAYSEP_SERVE_MAX_BYTES``, ``XRAYSEP_SERVE_CONCURRENCY``).

Starts ``mlflow models serve`` for ``models:/xraysep-<panel>@champion`` on 127.0.0.1 with a
pixel limit of ``--side``², sends one warm request, then from 16 clients at once: 8 requests
at the pixel limit, 4 bodies of ``--oversized-mb`` MB and 4 malformed ones. Prints the peak
resident memory of the server's processes (the sum of their VmHWM) when warm and how much it
grew under the load, the wall time and the answers' statuses (docs/trust.md):

    uv run python benchmarks/serve_memory.py --panel demo
    XRAYSEP_SERVE_MAX_BYTES=1000000000 XRAYSEP_SERVE_CONCURRENCY=16 \\
        MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT=600 uv run python benchmarks/serve_memory.py
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import psutil

from common import peak_rss_mb
from serve_load import Request, model_server, oversized_body, post, send


def peak_mb(pid: int) -> float:
    """The sum of the peak resident memory (VmHWM) of process ``pid`` and its children."""
    root = psutil.Process(pid)
    return sum(peak_rss_mb(process.pid) for process in (root, *root.children(recursive=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--panel", default="demo", help="panel whose champion model is served")
    parser.add_argument("--side", type=int, default=128, help="requests at the limit: side²")
    parser.add_argument("--oversized-mb", type=int, default=40)
    args = parser.parse_args()

    from xraysep import config
    from xraysep.io import registry, store, tracking

    where = config.paths(args.panel)
    panel = store.open_panel(where.store, args.panel)
    reps = -(-(args.side + 8) // min(panel.shape))
    tiled = {s: np.tile(panel.rgb(s), (reps, reps, 1)) for s in ("front", "back")}
    side = args.side
    crops = [{k: v[i : i + side, i : i + side] for k, v in tiled.items()} for i in range(8)]
    good = [Request("good", {"inputs": {k: v.tolist() for k, v in c.items()}}, c) for c in crops]
    oversized = oversized_body(args.oversized_mb * 1024 * 1024 // 8)
    bad = [Request("oversized", oversized)] * 4 + [Request("not json", b"{inputs")] * 4
    env = os.environ | {
        "MLFLOW_TRACKING_URI": tracking.configure(),
        "XRAYSEP_SERVE_MAX_PIXELS": str(side * side),
    }
    uri = registry.model_uri(args.panel)
    with model_server(uri, cwd=where.root, env=env, startup_s=300) as (url, process):
        assert post(url, good[0].body)[0] == 200
        warm = peak_mb(process.pid)
        answers, wall = send(url, [x for pair in zip(good, bad, strict=True) for x in pair], 16)
        grown = peak_mb(process.pid) - warm
    statuses = sorted({(a.request.kind, a.status) for a in answers})
    limits = {
        k: os.environ.get(k, "default")
        for k in ("XRAYSEP_SERVE_MAX_BYTES", "XRAYSEP_SERVE_CONCURRENCY")
    }
    print(f"{limits}: warm {warm:.0f} MB, grew {grown:.0f} MB in {wall:.1f} s; {statuses}")


if __name__ == "__main__":
    main()
