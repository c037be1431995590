"""A model server that cannot be swamped: the real ``mlflow models serve`` on 127.0.0.1
refuses bodies over its byte limit before parsing them and works on at most
``XRAYSEP_SERVE_CONCURRENCY`` requests at once, so 8 concurrent requests at the pixel limit,
oversized bodies of 40 MB and malformed ones leave its peak memory within a stated bound,
every good request answered exactly and the server answering afterwards."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import mlflow
import numpy as np
import psutil
import pytest

from xraysep.io import serve_limits, store

from conftest import tool_env
from serve_load import Request, mismatches, model_server, oversized_body, post, send

CHAMPION = "models:/xraysep-p@champion"
SIDE = 128  # requests at the limit are SIDE × SIDE
MAX_PIXELS = SIDE * SIDE
MAX_BYTES = MAX_PIXELS * serve_limits.BYTES_PER_PIXEL  # the default for that pixel limit
OVERSIZED_MB = 40
# The stated bound on how much the server's peak memory may grow over its warm idle state
# under this load: two requests at the limit parsed at once (a body of ~2.3 MB and its parsed
# lists, ~10 MB each) with ample room for the allocator. One 40 MB body of "[0,0,0]" pixels,
# if parsed, would cost about 450 MB.
BOUND_MB = 150


def peak_mb(pid: int) -> float:
    """The sum of the peak resident memory (VmHWM) of the server and its children."""
    root = psutil.Process(pid)
    total_kb = 0
    for process in (root, *root.children(recursive=True)):
        status = Path(f"/proc/{process.pid}/status").read_text()
        total_kb += int(
            next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]
        )
    return total_kb / 1024


@pytest.fixture(scope="module")
def server(served_project):
    """The champion of the served project, in its own server with a pixel limit of
    128 × 128 and the default byte limit and concurrency for it."""
    env = tool_env() | {
        "MLFLOW_TRACKING_URI": f"sqlite:///{served_project.root / 'mlflow.db'}",
        "XRAYSEP_SERVE_MAX_PIXELS": str(MAX_PIXELS),
    }
    with model_server(CHAMPION, cwd=served_project.root, env=env) as (url, process):
        yield url, process.pid


def at_limit(root: Path, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` different photograph pairs of SIDE × SIDE: the panel's, tiled and shifted."""
    panel = store.open_panel(root / "data" / "panels" / "p.zarr", "p")
    tiled = {side: np.tile(panel.rgb(side), (5, 5, 1)) for side in ("front", "back")}
    return [{k: v[i : i + SIDE, i : i + SIDE] for k, v in tiled.items()} for i in range(count)]


def test_the_server_stays_within_its_memory_bound(served, server):
    url, pid = server
    crops = at_limit(served.root, 8)
    good = [Request("good", {"inputs": {k: v.tolist() for k, v in c.items()}}, c) for c in crops]
    assert max(len(json.dumps(r.body)) for r in good) < MAX_BYTES
    status, _ = post(url, good[0].body)  # warm: the model has run once
    assert status == 200
    idle = peak_mb(pid)

    oversized = oversized_body(OVERSIZED_MB * 1024 * 1024 // 8)
    bad = [Request("oversized", oversized) for _ in range(4)] + [
        Request("not json", b"{inputs: front"),
        Request("missing key", {"inputs": {"front": crops[0]["front"].tolist()}}),
        Request("over the pixel limit", oversized_body(MAX_PIXELS)),
        Request("out of range", {"inputs": {"front": [[[2.0, 0, 0]]], "back": [[[0.0, 0, 0]]]}}),
    ]
    answers, _ = send(url, [item for pair in zip(good, bad, strict=True) for item in pair], 16)
    grown = peak_mb(pid) - idle
    print(f"\nserver peak memory: {idle:.0f} MB warm, grew {grown:.0f} MB under the load")

    assert mismatches(answers, mlflow.pyfunc.load_model(CHAMPION)) == []
    refused = [(a.request.kind, a.status) for a in answers if a.request.kind != "good"]
    assert refused == [
        ("oversized", 413),
        ("oversized", 413),
        ("oversized", 413),
        ("oversized", 413),
        ("not json", 400),
        ("missing key", 400),
        ("over the pixel limit", 400),
        ("out of range", 400),
    ]
    message = next(a.answer["message"] for a in answers if a.status == 413)
    assert message == (
        f"request body of {len(oversized)} bytes; at most {MAX_BYTES} "
        "(XRAYSEP_SERVE_MAX_BYTES), use `xraysep separate` for whole panels"
    )
    assert grown < BOUND_MB, f"peak memory grew {grown:.0f} MB"
    # and it still answers
    assert post(url, good[1].body)[0] == 200


def test_a_body_without_a_length_is_refused(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.putrequest("POST", "/invocations")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    connection.send(b"2\r\n{}\r\n0\r\n\r\n")
    response = connection.getresponse()
    assert response.status == 411
    assert b"a request needs a Content-Length header" in response.read()
