"""The published peers as methods (docs/methods.md): connected auto-encoders (``cae``) and
unrolled learned ISTA (``lista``): shapes, exact tiling, symmetry of the sides, a loss that
decreases, model files, and train → combine → separate through the CLI on a 48² panel."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import torch
import zarr
from mlflow.exceptions import MlflowException

from xraysep.core.crops import CropSampler
from xraysep.core.methods.cae.loss import cae_loss
from xraysep.core.methods.cae.network import CaeConfig, ConnectedAutoEncoders
from xraysep.core.methods.lista.loss import exclusion, lista_loss
from xraysep.core.methods.lista.network import CoupledLista, ListaConfig
from xraysep.core.separator import separate, stack
from xraysep.core.training import TrainSettings, fit, stack_reader, to_stack
from xraysep.io import checkpoints, store

CPU = torch.device("cpu")
PEERS = ("cae", "lista")


def tiny(method: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if method == "cae":
        return ConnectedAutoEncoders(CaeConfig(width=4, layers=2, kernel=3))
    return CoupledLista(ListaConfig(width=4, layers=2, kernel=3))


def tiny_loss(method: str):
    if method == "cae":
        return lambda model, batch, progress: cae_loss(
            model, batch, progress, rgb=1.0, mixture=1.0, xray=1.0, code=1.0
        )
    return lambda model, batch, progress: lista_loss(
        model, batch, progress, photograph=0.5, mixture=1.0, exclusion_weight=0.1, levels=2
    )


def photographs(size: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    front, back = rng.random((2, size, size, 3), dtype=np.float32)
    xray = (front.mean(-1) + back.mean(-1)) / 2
    return stack(front, back, xray)


def pair(model, image: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    return tuple(separate(model, image, tile=tile, device=CPU).values())


@pytest.mark.parametrize("method", PEERS)
def test_outputs_have_the_panels_shape_and_tiles_change_nothing(method):
    model = tiny(method).eval()
    image = photographs()
    front, back = pair(model, image, tile=512)
    assert front.shape == back.shape == (40, 40) and front.std() > 0
    tiled = pair(model, image, tile=12)  # tiles far smaller than the receptive field
    np.testing.assert_allclose(tiled[0], front, atol=1e-5)
    np.testing.assert_allclose(tiled[1], back, atol=1e-5)


@pytest.mark.parametrize("method", PEERS)
def test_swapping_the_photographs_swaps_the_sides(method):
    model = tiny(method).eval()
    image = photographs()
    swapped = np.concatenate([image[..., 3:6], image[..., 0:3], image[..., 6:]], axis=-1)
    front, back = pair(model, image, tile=512)
    back_swapped, front_swapped = pair(model, swapped, tile=512)
    np.testing.assert_allclose(front, front_swapped, atol=1e-6)
    np.testing.assert_allclose(back, back_swapped, atol=1e-6)


@pytest.mark.parametrize("method", PEERS)
def test_the_loss_decreases_on_a_tiny_panel(method):
    torch.set_num_threads(1)
    image = photographs(size=24)
    data = to_stack(image[..., 0:3], image[..., 3:6], image[..., 6])
    settings = TrainSettings(
        iterations=40, batch_size=1, lr=0.003, optimizer="adam", sampling="crops",
        patch=0, stride=0, crop=24, seed=0,
    )  # fmt: skip
    sampler = CropSampler(stack_reader(data), (24, 24), 24, 1, 0)
    losses = fit(tiny(method), tiny_loss(method), sampler, settings, CPU)
    assert all(np.isfinite(losses)) and np.mean(losses[-5:]) < 0.5 * losses[0]


@pytest.mark.parametrize("method", PEERS)
def test_a_model_file_gives_back_the_same_separator(method, tmp_path):
    model = tiny(method).eval()
    path = tmp_path / "combine.pt"
    checkpoints.save(path, model, {"panel": "p"})
    loaded, meta = checkpoints.load_separator(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert loaded.method == method and meta["panel"] == "p"
    image = photographs()
    for ours, theirs in zip(pair(model, image, 512), pair(loaded, image, 512), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("method", PEERS)
def test_train_combine_separate_through_the_cli(method, project, cli):
    assert cli("synth", "p")[0] == 0
    code, _, err = cli("train", "p", "--method", method, "--iterations", "5")
    assert code == 0, err
    assert {f.name for f in (project / "models" / "p" / "trained").iterdir()} == {f"{method}.pt"}
    assert cli("combine", "p", "--method", method)[0] == 0
    code, _, err = cli("separate", "p")
    assert code == 0, err
    model, meta = checkpoints.load_separator(project / "models" / "p" / "combine.pt")
    assert model.method == method and set(meta["trained"]) == {method}
    (group,) = (project / "data" / "separated" / "p.zarr").glob("combine-*")
    results = zarr.open_group(group, mode="r")
    assert results.attrs["method"] == method and "uncertainty" not in results
    panel = store.open_panel(project / "data" / "panels" / "p.zarr", "p")
    front, back = pair(model, stack(panel.rgb("front"), panel.rgb("back"), panel.xray()), 512)
    np.testing.assert_allclose(results["front_xray/0"][:], front, atol=1e-5)
    np.testing.assert_allclose(results["back_xray/0"][:], back, atol=1e-5)
    assert cli("evaluate", "p")[0] == 0
    metrics = json.loads((project / "reports" / "p" / "metrics.json").read_text())
    assert set(metrics) == {method} and np.isfinite(metrics[method]["front_psnr"])
    # the registered champion answers as `separate` does; only lista needs the X-ray for it
    served = mlflow.pyfunc.load_model("models:/xraysep-p@champion")
    request = {"front": panel.rgb("front"), "back": panel.rgb("back")}
    answer = served.predict(request, params={"xray": panel.xray().ravel()})
    np.testing.assert_allclose(answer["front_xray"], front, atol=1e-5)
    np.testing.assert_allclose(answer["back_xray"], back, atol=1e-5)
    if model.needs_xray:
        with pytest.raises(MlflowException, match="needs the mixed X-ray"):
            served.predict(request)
    else:
        np.testing.assert_allclose(served.predict(request)["front_xray"], front, atol=1e-5)


def test_exclusion_is_low_for_edges_apart_and_high_for_edges_together():
    ramp = torch.zeros(1, 1, 32, 32)
    ramp[..., :, 16:] = 1.0  # one vertical edge
    other = ramp.transpose(-1, -2)  # one horizontal edge
    apart = exclusion(ramp, other, levels=1)
    together = exclusion(ramp, 0.5 * ramp, levels=1)
    assert apart < 0.1 * together
    assert exclusion(ramp, 0.5 * ramp, 1) == pytest.approx(exclusion(0.5 * ramp, ramp, 1).item())


def test_the_lista_pair_needs_the_xray_and_the_cae_pair_does_not():
    assert tiny("lista").needs_xray and not tiny("cae").needs_xray
