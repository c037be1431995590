"""The registered combine model: loading it, its registry entry, and the real model server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import mlflow
import numpy as np
import pytest
import zarr

from xraysep.io import store
from xraysep.jobs.combine import combine
from xraysep.jobs.separate import separate
from xraysep.jobs.synth import synth
from xraysep.jobs.train import train

from conftest import make_project, tool_env


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A tiny panel, trained, combined twice (two registry versions) and separated."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        root = make_project(tmp_path_factory.mktemp("serving"), monkeypatch)
        synth("p", size=40)
        for order in ("12", "21"):
            train("p", order)
        combine("p")
        combine("p")
        (separated,) = separate("p")
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        yield root, separated


def photographs(root):
    panel = store.open_panel(root / "data" / "panels" / "p.zarr", "p")
    return {side: panel.rgb(side) for side in ("front", "back")}


def test_champion_predicts_what_separate_wrote(served):
    root, separated = served
    model = mlflow.pyfunc.load_model("models:/xraysep-p@champion")
    result = model.predict(photographs(root))
    group = zarr.open_group(separated, mode="r")
    assert set(result) == {"front_xray", "back_xray"}
    for key, value in result.items():
        assert value.shape == (40, 40) and value.dtype == np.float32
        np.testing.assert_allclose(value, group[key][:], atol=1e-5)


def test_registry_versions_and_alias(served):
    client = mlflow.MlflowClient()
    versions = client.search_model_versions("name='xraysep-p'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert int(client.get_model_version_by_alias("xraysep-p", "champion").version) == 2
    info = mlflow.models.get_model_info("models:/xraysep-p@champion")
    assert [s.name for s in info.signature.inputs.inputs] == ["front", "back"]
    assert [s.name for s in info.signature.outputs.inputs] == ["front_xray", "back_xray"]
    assert info.saved_input_example_info is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(port: int, body) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def server(served):
    root, _ = served
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve"]
    command += ["-m", "models:/xraysep-p@champion", "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        command,
        cwd=root,
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                break
        except OSError:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("model server did not answer /ping within 120 s")
    yield port
    process.terminate()
    process.wait(timeout=30)


def test_server_answers_a_crop_like_local_predict(served, server):
    root, _ = served
    crop = {side: image[5:29, 3:35] for side, image in photographs(root).items()}
    status, answer = post(server, {"inputs": {k: v.tolist() for k, v in crop.items()}})
    assert status == 200
    local = mlflow.pyfunc.load_model("models:/xraysep-p@champion").predict(crop)
    for key in ("front_xray", "back_xray"):
        np.testing.assert_allclose(np.array(answer["predictions"][key]), local[key], atol=1e-5)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"front": np.zeros((8, 8, 3)).tolist()}, "back"),
        ({"front": np.zeros((8, 8)).tolist(), "back": np.zeros((8, 8)).tolist()}, "shape"),
        ({"front": [[["a", "b", "c"]]], "back": [[[0.1, 0.2, 0.3]]]}, ""),
        ({"front": np.zeros((8, 8, 3)).tolist(), "back": np.zeros((8, 9, 3)).tolist()}, "differ"),
        (
            {"front": np.full((8, 8, 3), 7.0).tolist(), "back": np.zeros((8, 8, 3)).tolist()},
            "[0, 1]",
        ),
    ],
    ids=["missing key", "wrong shape", "non-numeric", "mismatched sizes", "out of range"],
)
def test_bad_requests_get_400_and_the_server_keeps_serving(server, inputs, message):
    status, answer = post(server, {"inputs": inputs})
    assert status == 400 and message in answer["message"]
    good = {"front": np.zeros((8, 8, 3)).tolist(), "back": np.zeros((8, 8, 3)).tolist()}
    assert post(server, {"inputs": good})[0] == 200
