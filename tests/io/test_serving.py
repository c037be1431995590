"""The registered combine model: loading it, its registry entry, and the real model server,
also under a bounded load from concurrent clients (the refusals of bad requests are rows of
the table in ``test_bad_input.py``)."""

from __future__ import annotations

import mlflow
import numpy as np
import psutil
import pytest
import zarr
from mlflow.exceptions import MlflowException

from xraysep.io import pyfunc, store

from conftest import SERVE_MAX_PIXELS
from serve_load import figures, load, mismatches, oversized_body, post, send

CHAMPION = "models:/xraysep-p@champion"


def photographs(root):
    panel = store.open_panel(root / "data" / "panels" / "p.zarr", "p")
    return {side: panel.rgb(side) for side in ("front", "back")}


def test_champion_predicts_what_separate_wrote(served):
    """The photographs alone give the pair; with the X-ray, the hidden layer as well."""
    model = mlflow.pyfunc.load_model(CHAMPION)
    result = model.predict(photographs(served.root))
    group = zarr.open_group(served.separated, mode="r")
    assert set(result) == {"front_xray", "back_xray"}
    xray = store.open_panel(served.root / "data" / "panels" / "p.zarr", "p").xray()
    with_xray = model.predict(photographs(served.root), params={"xray": xray.ravel()})
    assert set(with_xray) == {"front_xray", "back_xray", "hidden"}
    for key, value in (result | {"hidden": with_xray["hidden"]}).items():
        assert value.shape == (40, 40) and value.dtype == np.float32
        np.testing.assert_allclose(value, group[f"{key}/0"][:], atol=1e-5)
    assert np.abs(with_xray["hidden"]).max() > 1e-3  # the pair leaves something of the X-ray


def test_registry_versions_and_alias(served):
    client = mlflow.MlflowClient()
    versions = client.search_model_versions("name='xraysep-p'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert int(client.get_model_version_by_alias("xraysep-p", "champion").version) == 2
    info = mlflow.models.get_model_info(CHAMPION)
    assert [s.name for s in info.signature.inputs.inputs] == ["front", "back"]
    assert [s.name for s in info.signature.outputs.inputs] == ["front_xray", "back_xray", "hidden"]
    assert info.saved_input_example_info is not None


def test_server_answers_a_crop_like_local_predict(served):
    crop = {side: image[5:29, 3:35] for side, image in photographs(served.root).items()}
    status, answer = post(served.url, {"inputs": {k: v.tolist() for k, v in crop.items()}})
    assert status == 200
    local = mlflow.pyfunc.load_model(CHAMPION).predict(crop)
    for key in ("front_xray", "back_xray"):
        np.testing.assert_allclose(np.array(answer["predictions"][key]), local[key], atol=1e-5)


def test_server_listens_on_loopback_only_by_default(served):
    """The fixture starts `mlflow models serve` without -h: it must bind 127.0.0.1 alone."""
    server = psutil.Process(served.server_pid)
    port = int(served.url.rsplit(":", 1)[1])
    listening = {
        connection.laddr.ip
        for process in (server, *server.children(recursive=True))
        for connection in process.net_connections("tcp")
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
    }
    assert listening == {"127.0.0.1"}


def test_server_under_load(served):
    """200 requests from 8 concurrent clients: every good answer equals the local predict,
    every malformed or oversized one gets a 4xx, and the whole load ends within a minute."""
    bad = {
        "missing key": {"inputs": {"front": np.zeros((8, 8, 3)).tolist()}},
        "wrong shape": {"inputs": {"front": [[0.5]], "back": [[0.5]]}},
        "not json": b"{inputs: front",
        "out of range": {"inputs": {"front": [[[2.0, 0, 0]]], "back": [[[0.0, 0, 0]]]}},
        "oversized": oversized_body(SERVE_MAX_PIXELS),
    }
    # 20 different crops in turn: each answer is still checked, local predicts stay few
    requests = load(photographs(served.root), 200, (24, 32), bad, every=10, distinct=20)
    answers, wall = send(served.url, requests, clients=8)
    assert mismatches(answers, mlflow.pyfunc.load_model(CHAMPION)) == []
    result = figures(answers, wall)
    assert result["good"] == 180 and result["bad"] == 20
    assert wall < 60, result
    print(
        "\nserver load: " + ", ".join(f"{key} {value:.1f}" for key, value in result.items())
    )  # shown with -rP or -s


def test_default_request_limit_is_four_megapixels():
    """The server in these tests runs with a lower limit; the default is checked here, on
    the same check the server runs, without sending 32 MB of JSON."""
    assert pyfunc.MAX_PIXELS == 4_000_000
    photographs = {side: np.zeros((2000, 2001, 3), np.float32) for side in ("front", "back")}
    with pytest.raises(MlflowException, match="'front' has 4002000 pixels; at most 4000000"):
        pyfunc.check_request(photographs)
    fits = {side: np.zeros((2000, 2000, 3), np.float32) for side in ("front", "back")}
    assert pyfunc.check_request(fits).keys() == {"front", "back"}
