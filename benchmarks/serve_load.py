"""Load on the real model server: latency percentiles and throughput under concurrent clients.

Starts ``mlflow models serve`` for ``models:/xraysep-<panel>@champion`` on 127.0.0.1 (its
default interface; or uses a running server with ``--url``), sends crops of the panel's
photographs from several client threads, with malformed and oversized requests mixed in,
and checks that every good answer equals the model's local ``predict`` and every bad request
gets a 4xx. Prints p50/p90/p99/max latency of the good requests, throughput, and the command
that reproduces the figures. The tests (``tests/io/test_serving.py``) use the same server and
load code at a tiny scale.

    uv run python benchmarks/serve_load.py --panel demo --requests 200 --clients 8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def model_server(
    model_uri: str, *, cwd: Path, env: Mapping[str, str], startup_s: float = 120
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``mlflow models serve`` on a free port of its default interface (no ``-h``, so
    what it binds to is MLflow's default: 127.0.0.1); yields its URL and process."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri]
    command += ["--env-manager", "local", "-p", str(port)]
    env = {k: v for k, v in env.items() if k != "MLFLOW_HOST"}  # MLFLOW_HOST overrides -h
    # the server runs `uvicorn` from PATH: take this interpreter's, as `uv run` would
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(f"model server exited: {process.stderr.read()}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer to /ping in {startup_s} s") from None
                time.sleep(0.5)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post(url: str, body: Any, timeout: float = 120) -> tuple[int, dict]:
    """POST a JSON body (or an already encoded one) to ``/invocations``; (status, answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/invocations", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            return error.code, json.loads(text)
        except json.JSONDecodeError:  # some refusals (e.g. 415) are plain text
            return error.code, {"message": text}


def oversized_body(pixels: int) -> bytes:
    """A request whose front has ``pixels`` pixels (one more row than needed), encoded
    straight to JSON: building it as nested Python lists would take gigabytes."""
    width = 2000
    row = "[" + ",".join(["[0,0,0]"] * width) + "]"
    front = "[" + ",".join([row] * (pixels // width + 1)) + "]"
    return ('{"inputs": {"front": ' + front + ', "back": [[[0, 0, 0]]]}}').encode()


@dataclass(frozen=True)
class Request:
    kind: str  # "good" or the name of what is wrong with it
    body: Any
    crop: dict[str, np.ndarray] | None = None  # the photographs of a good request


@dataclass(frozen=True)
class Answer:
    request: Request
    status: int
    answer: dict
    seconds: float


def send(url: str, requests: list[Request], clients: int) -> tuple[list[Answer], float]:
    """Send every request from ``clients`` concurrent threads; answers in request order and
    the wall time of the whole load."""

    def one(request: Request) -> Answer:
        began = time.perf_counter()
        status, answer = post(url, request.body)
        return Answer(request, status, answer, time.perf_counter() - began)

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(one, requests))
    return answers, time.perf_counter() - began


def crops(
    photographs: dict[str, np.ndarray], count: int, size: tuple[int, int], seed: int = 0
) -> Iterator[dict[str, np.ndarray]]:
    """``count`` random crops of ``size`` taken at the same place from both photographs."""
    rng = np.random.default_rng(seed)
    h, w = photographs["front"].shape[:2]
    for _ in range(count):
        y, x = rng.integers(0, h - size[0] + 1), rng.integers(0, w - size[1] + 1)
        yield {k: v[y : y + size[0], x : x + size[1]] for k, v in photographs.items()}


def load(
    photographs: dict[str, np.ndarray],
    count: int,
    size: tuple[int, int],
    bad: Mapping[str, Any],
    every: int,
    distinct: int | None = None,
) -> list[Request]:
    """``count`` requests: good crops (``distinct`` different ones in turn, default all
    different), with the ``bad`` bodies in turn at every ``every``-th."""
    requests, bad_items = [], list(bad.items())
    pool = list(crops(photographs, distinct or count, size))
    for index in range(count):
        crop = pool[index % len(pool)]
        if every and index % every == every - 1:
            kind, body = bad_items[(index // every) % len(bad_items)]
            requests.append(Request(kind, body))
        else:
            body = {"inputs": {k: v.tolist() for k, v in crop.items()}}
            requests.append(Request("good", body, crop))
    return requests


def mismatches(answers: list[Answer], model: Any) -> list[str]:
    """What is wrong with the answers: a good request not answered 200 with exactly what the
    local model predicts, or a bad one not refused with a 4xx."""
    problems, expected_for = [], {}
    for index, got in enumerate(answers):
        if got.request.kind != "good":
            if not 400 <= got.status < 500:
                problems.append(f"#{index} {got.request.kind}: HTTP {got.status}, expected 4xx")
            continue
        if got.status != 200:
            problems.append(f"#{index}: HTTP {got.status} {got.answer}")
            continue
        crop = got.request.crop
        if id(crop) not in expected_for:  # a crop sent again is predicted once
            expected_for[id(crop)] = model.predict(crop)
        for key, value in expected_for[id(crop)].items():
            served = np.asarray(got.answer["predictions"][key], dtype=np.float32)
            if served.shape != value.shape or not np.allclose(served, value, atol=1e-5):
                problems.append(f"#{index}: {key} differs from the local predict")
    return problems


def figures(answers: list[Answer], wall: float) -> dict[str, float]:
    """Latency percentiles (ms) of the good requests and their throughput."""
    good = np.array([a.seconds for a in answers if a.request.kind == "good"]) * 1000
    return {
        "p50_ms": float(np.percentile(good, 50)),
        "p90_ms": float(np.percentile(good, 90)),
        "p99_ms": float(np.percentile(good, 99)),
        "max_ms": float(good.max()),
        "requests_per_s": len(answers) / wall,
        "good": len(good),
        "bad": len(answers) - len(good),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--panel", default="demo", help="panel whose champion model is served")
    parser.add_argument("--url", help="a running server; default: start one on 127.0.0.1")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--crop", type=int, default=64, help="side of each crop in pixels")
    parser.add_argument("--bad-every", type=int, default=20, help="every Nth request is bad")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=65536,
        help="per-request limit of the server started here (XRAYSEP_SERVE_MAX_PIXELS); with "
        "--url, give the running server's (default 4000000) so oversized requests exceed it",
    )
    args = parser.parse_args()

    import mlflow

    from xraysep import config
    from xraysep.io import registry, store, tracking

    tracking.configure()
    where = config.paths(args.panel)
    panel = store.open_panel(where.store, args.panel)
    photographs = {side: panel.rgb(side) for side in ("front", "back")}
    uri = registry.model_uri(args.panel)
    model = mlflow.pyfunc.load_model(uri)
    bad = {
        "missing key": {"inputs": {"front": [[[0.5, 0.5, 0.5]]]}},
        "wrong shape": {"inputs": {"front": [[0.5]], "back": [[0.5]]}},
        "oversized": oversized_body(args.max_pixels),
    }
    requests = load(photographs, args.requests, (args.crop, args.crop), bad, args.bad_every)
    env = os.environ | {
        "MLFLOW_TRACKING_URI": tracking.configure(),
        "XRAYSEP_SERVE_MAX_PIXELS": str(args.max_pixels),
    }
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(model_server(uri, cwd=where.root, env=env))[0]
        answers, wall = send(url, requests, args.clients)
    problems = mismatches(answers, model)
    result = figures(answers, wall)
    print(
        f"{result['good']} good {args.crop}×{args.crop} crops and {result['bad']} bad requests "
        f"from {args.clients} clients in {wall:.1f} s: {result['requests_per_s']:.1f} requests/s"
    )
    print(
        "latency of good requests: "
        + ", ".join(
            f"{k[:-3]} {result[k]:.0f} ms" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")
        )
    )
    print("all answers correct" if not problems else "\n".join(problems))
    print("reproduce: uv run python benchmarks/serve_load.py " + shlex.join(sys.argv[1:]))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
