"""The methods beyond the paper (docs/methods.md): shared map, sum-consistent combine,
baselines, uncertainty, and the benchmark suite, through the real jobs and stores."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import torch
import yaml
import zarr
from PIL import Image

from xraysep.core.methods.baselines import HalfModel, LinearModel
from xraysep.core.methods.shared.model import SharedConfig, SharedModel, shared_loss
from xraysep.core.separator import separate, stack
from xraysep.io import checkpoints, store

CPU = torch.device("cpu")


def pair(model, photographs: np.ndarray, approach: str | None = None):
    return tuple(separate(model, photographs, tile=16, device=CPU, approach=approach).values())


def random_shared(front: np.ndarray, back: np.ndarray, thickness: int) -> SharedModel:
    """A two-member shared model with palettes from the photographs and random weights."""
    torch.manual_seed(0)
    model = SharedModel(
        SharedConfig(palette=6, psf=1, members=2, thickness=thickness, ridge=3.0, width=1.0)
    )
    model.init_palettes(front, back, seed=0)
    with torch.no_grad():
        for member in model.members:
            member.absorption.weights.weight.normal_()
    return model


def test_shared_model_is_order_invariant_by_construction():
    rng = np.random.default_rng(0)
    front, back = rng.random((2, 24, 24, 3), dtype=np.float32)
    model = random_shared(front, back, thickness=0)
    f, b = pair(model, stack(front, back))
    b_swapped, f_swapped = pair(model, stack(back, front))
    np.testing.assert_array_equal(f, f_swapped)
    np.testing.assert_array_equal(b, b_swapped)
    assert f.std() > 0.01  # not trivially constant


def test_training_keeps_the_bumps_of_an_unchanged_input_only():
    """The bumps are computed again when the input changes in place or a palette changes,
    and let go out of training: the predictions are always those of a fresh model."""
    rng = np.random.default_rng(1)
    front, back = rng.random((2, 20, 20, 3), dtype=np.float32)
    config = SharedConfig(palette=6, psf=1, members=2, thickness=0, ridge=3.0, width=1.0)
    model, fresh = SharedModel(config), SharedModel(config)
    model.init_palettes(front, back, seed=0)
    batch = torch.from_numpy(np.concatenate([front, back], -1).transpose(2, 0, 1)[None].copy())
    first, second = batch[:, :3], batch[:, 3:]

    def agrees() -> bool:
        fresh.load_state_dict(model.state_dict())
        return torch.equal(model(first, second), fresh(first, second))

    assert agrees()
    held = model.last_bumps.bumps
    model(batch[:, :3], batch[:, 3:])  # new views of the same, unchanged tensor
    assert model.last_bumps.bumps is held
    batch.mul_(0.5)
    assert agrees() and model.last_bumps.bumps is not held
    held = model.last_bumps.bumps
    model.init_palettes(front, back, seed=5)
    assert agrees() and model.last_bumps.bumps is not held
    model.eval()
    assert model.last_bumps.bumps == []


def test_inference_makes_the_bumps_in_pieces_with_the_same_result():
    """Without gradients the CPU computes the bumps a few thousand pixels at a time; every
    pixel's sums are the same, so the depths are bit-identical to the whole image's."""
    rng = np.random.default_rng(3)
    model = SharedModel(
        SharedConfig(palette=8, psf=2, members=1, thickness=0, ridge=3.0, width=1.4)
    )
    model.init_palettes(*rng.random((2, 30, 30, 3), dtype=np.float32), seed=0)
    absorption = model.members[0].absorption
    with torch.no_grad():
        absorption.weights.weight.normal_()
    photographs = torch.rand(2, 3, 70, 61)  # 8540 pixels: three pieces, the last one short
    whole = absorption(photographs)
    with torch.no_grad():
        in_pieces = absorption(photographs)
    assert torch.equal(in_pieces, whole) and whole.std() > 0.01


def test_bumps_of_far_colours_stay_normal_floats_and_keep_the_depth():
    """A pixel far from its palette colours gets bumps floored at e⁻⁸⁷, never subnormal
    floats or zero, and the depth is float64's without the floor (to the 1e-4 that the
    expanded square's cancellation costs float32)."""
    model = SharedModel(
        SharedConfig(palette=2, psf=0, members=1, thickness=0, ridge=3.0, width=1.0)
    )
    absorption = model.members[0].absorption
    with torch.no_grad():
        absorption.centres.copy_(torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
        absorption.width.fill_(0.1)  # exponents −50·|y − c|², down to −150 across the cube
        absorption.weights.weight.copy_(torch.tensor([2.0, 3.0]).view(1, 2, 1, 1))
    grey = torch.linspace(0, 1, 41).view(1, 1, 1, 41).expand(1, 3, 1, 41).contiguous()
    bumps = absorption.bumps(grey)
    assert bumps.min() == torch.exp(torch.tensor(-87.0)) and bumps.max() == 1
    assert (bumps >= torch.finfo(torch.float32).tiny).all()
    distances = torch.stack([grey[0, 0, 0], 1 - grey[0, 0, 0]], 1).double() ** 2 * 3
    exact = torch.nn.functional.softplus(
        torch.exp(-50 * distances) @ torch.tensor([2.0, 3.0]).double()
    )
    torch.testing.assert_close(absorption(grey).flatten().double(), exact, rtol=1e-4, atol=0)


def test_uncertainty_is_the_thickness_fits_move_and_the_members_spread_where_no_xray():
    """With the X-ray the map is how far the thickness fit moved the sides; where the X-ray
    is missing (NaN), the members' spread over both sides."""
    rng = np.random.default_rng(4)
    front, back = rng.random((2, 24, 24, 3), dtype=np.float32)
    model = random_shared(front, back, thickness=2)
    xray = rng.random((24, 24), dtype=np.float32)
    whole = torch.from_numpy(stack(front, back, xray).transpose(2, 0, 1)[None].copy())
    holed = whole.clone()
    holed[:, -1, :, :12] = float("nan")
    with torch.no_grad():
        *_, moved = model.pairs(whole)
        assert torch.equal(model.spread()(whole), moved.mean(0))
        fronts, backs, _, moved = model.pairs(holed)
        spread = (fronts.std(0, correction=0) + backs.std(0, correction=0)) / 2
        holed_map = model.spread()(holed)
    assert torch.equal(holed_map[..., :12], spread[..., :12])
    assert torch.equal(holed_map[..., 12:], moved.mean(0)[..., 12:])
    assert spread[..., :12].mean() > 0.001 and moved.mean(0)[..., 12:].mean() > 0.001


def test_bump_width_is_a_multiple_of_the_palette_spacing():
    rng = np.random.default_rng(2)
    front, back = rng.random((2, 24, 24, 3), dtype=np.float32)
    widths = []
    for width in (1.0, 1.4):
        model = SharedModel(
            SharedConfig(palette=6, psf=1, members=2, thickness=0, ridge=3.0, width=width)
        )
        model.init_palettes(front, back, seed=0)
        widths.append(torch.stack([m.absorption.width for m in model.members]))
    torch.testing.assert_close(widths[1], 1.4 * widths[0])
    assert widths[0].min() > 0.05  # six colours in the unit cube lie far apart


def test_linear_baseline_recovers_a_linear_mixture_exactly():
    rng = np.random.default_rng(1)
    front, back = rng.random((2, 32, 32, 3), dtype=np.float32)
    weights, bias = np.array([0.5, -0.2, 0.3], dtype=np.float32), 0.1
    xray = (front + back) @ weights + bias
    model = LinearModel()
    model.fit(front, back, xray)
    f, b = pair(model, stack(front, back, xray))
    np.testing.assert_allclose(f, front @ weights + bias / 2, atol=1e-5)
    np.testing.assert_allclose(f + b, xray, atol=1e-5)


def test_half_baseline_halves_the_xray():
    xray = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    photo = np.zeros((8, 8, 3), np.float32)
    f, b = pair(HalfModel(), stack(photo, photo, xray))
    np.testing.assert_array_equal(f, xray / 2)
    np.testing.assert_array_equal(b, xray / 2)


@pytest.fixture
def orderings(project, cli):
    assert cli("synth", "p")[0] == 0
    assert cli("train", "p", "--method", "paper")[0] == 0  # both orderings
    return project


def test_consistent_combine_explains_the_mixture(orderings, cli):
    assert cli("combine", "p", "--method", "consistent")[0] == 0
    model, meta = checkpoints.load_separator(orderings / "models" / "p" / "combine.pt")
    assert model.method == "consistent" and set(meta["trained"]) == {"12", "21"}
    panel = store.open_panel(orderings / "data" / "panels" / "p.zarr", "p")
    photographs = stack(panel.rgb("front"), panel.rgb("back"), panel.xray())
    xray = photographs[..., 6]
    front, back = pair(model, photographs)
    np.testing.assert_allclose(front + back, xray, atol=1e-5)  # the residual is allocated
    recon = {a: np.mean((xray - sum(pair(model, photographs, a))) ** 2) for a in model.approaches}
    assert recon["consistent"] <= min(recon["order12"], recon["order21"], recon["combined"])
    # the offset rule: each side's mean is the mean of what the two orderings say
    f12, b12 = pair(model, photographs, "order12")
    f21, b21 = pair(model, photographs, "order21")
    d_front, d_back = model.disagreement.tolist()
    assert d_front == pytest.approx(float(np.mean(f12 - f21)), abs=1e-5)
    assert d_back == pytest.approx(float(np.mean(b21 - b12)), abs=1e-5)


def test_shared_method_end_to_end_writes_an_uncertainty_map(project, cli):
    assert cli("synth", "p")[0] == 0
    code, _, err = cli("pipeline", "p", "--method", "shared")
    assert code == 0, err
    assert {f.name for f in (project / "models" / "p" / "trained").iterdir()} == {"shared.pt"}
    model, _ = checkpoints.load_separator(project / "models" / "p" / "combine.pt")
    assert model.method == "shared" and model.halo == 2 + 6  # psf + thickness window

    panel = store.open_panel(project / "data" / "panels" / "p.zarr", "p")
    photographs = stack(panel.rgb("front"), panel.rgb("back"), panel.xray())
    (group,) = (project / "data" / "separated" / "p.zarr").glob("combine-*")
    results = zarr.open_group(group, mode="r")
    assert results.attrs["method"] == "shared"
    front, back = pair(model, photographs)
    np.testing.assert_allclose(results["front_xray/0"][:], front, atol=1e-5)  # dask = whole image
    np.testing.assert_allclose(results["back_xray/0"][:], back, atol=1e-5)
    spread = results["uncertainty/0"][:]
    assert spread.shape == (48, 48) and spread.min() >= 0 and spread.max() > 0
    heat = np.asarray(Image.open(project / "reports" / "p" / "separated" / "uncertainty.png"))
    assert heat.shape == (48, 48, 3) and heat.dtype == np.uint8

    metrics = json.loads((project / "reports" / "p" / "metrics.json").read_text())
    assert set(metrics) == {"shared"} and np.isfinite(metrics["shared"]["front_psnr"])

    # the registered champion answers with the same pair when sent the X-ray too; from the
    # photographs alone it gives the colour maps' pair (no thickness fit), which explains the
    # mixture less well
    served = mlflow.pyfunc.load_model("models:/xraysep-p@champion")
    request = {"front": photographs[..., :3], "back": photographs[..., 3:6]}
    answer = served.predict(request, params={"xray": photographs[..., 6].ravel()})
    np.testing.assert_allclose(answer["front_xray"], front, atol=1e-5)
    np.testing.assert_allclose(answer["back_xray"], back, atol=1e-5)
    colour = served.predict(request)
    xray = photographs[..., 6]
    thickened = np.mean((xray - front - back) ** 2)
    assert thickened < np.mean((xray - colour["front_xray"] - colour["back_xray"]) ** 2)


def test_method_errors_are_one_line(project, cli):
    assert cli("synth", "p")[0] == 0
    code, _, err = cli("train", "p", "--method", "magic")
    assert code != 0 and "method 'magic': unknown; choose one of" in err
    code, _, err = cli("train", "p", "--method", "linear")
    assert code != 0 and "method 'linear' trains nothing" in err
    code, _, err = cli("train", "p", "--method", "shared", "--order", "12")
    assert code != 0 and "method 'shared' has no orderings" in err
    code, _, err = cli("combine", "p", "--method", "shared")
    assert code != 0 and "shared.pt: model not found" in err
    params = yaml.safe_load((project / "params.yaml").read_text())
    for key, value in (("robust", 0), ("width", -1)):
        (project / "params.yaml").write_text(
            yaml.safe_dump(params | {"shared": params["shared"] | {key: value}})
        )
        code, _, err = cli("train", "p", "--method", "shared")
        assert code != 0 and f"shared.{key}: input should be greater than 0 (got {value})" in err
        assert not (project / "models" / "p" / "trained" / "shared.pt").exists()
    (project / "params.yaml").write_text(
        yaml.safe_dump(params | {"shared": params["shared"] | {"refine": 1}})
    )
    code, _, err = cli("train", "p", "--method", "shared")
    assert code != 0 and "shared.refine: input should be less than 1 (got 1)" in err
    (project / "params.yaml").write_text(
        yaml.safe_dump(params | {"shared": params["shared"] | {"thickness": 0}})
    )
    code, _, err = cli("train", "p", "--method", "shared")
    assert code != 0 and "shared: refine = 0.4 refines with the thickness fit" in err


def test_shared_loss_is_squared_error_for_small_residuals_and_bounded_for_large():
    xray = torch.zeros(1, 7, 4, 4)
    residual = torch.full((1, 1, 1, 4, 4), 1e-4)
    residual[..., 0, 0] = 1.0  # one pixel of content no colour map explains: a nail
    residual.requires_grad_(True)
    loss = shared_loss(lambda *photographs_and_fit: residual, xray, 0.0, scale=0.01)
    loss.backward()
    gradient = residual.grad.flatten() * residual.numel()
    # Below the scale the loss is squared error: d(r²)/dr = 2r.
    assert gradient[1].item() == pytest.approx(2e-4, rel=1e-3)
    # The nail pulls with 2r / (1 + (r/s)²) ≈ 2e-4 instead of squared error's 2.0.
    assert gradient[0].item() == pytest.approx(2 / (1 + 100**2), rel=1e-3)


def test_refinement_loss_explains_uneven_paint_as_thickness():
    """A mixture of the map's own depths, each side unevenly thick: the plain loss
    charges the map for the unevenness, the refinement's loss (thickness fitted inside)
    hardly at all, so in refinement the map is not pulled to explain it."""
    rng = np.random.default_rng(0)
    front, back = rng.random((2, 32, 32, 3), dtype=np.float32)
    torch.manual_seed(0)
    model = SharedModel(
        SharedConfig(palette=6, psf=1, members=1, thickness=3, ridge=3.0, width=1.0)
    )
    model.init_palettes(front, back, seed=0)
    weights = model.members[0].absorption.weights  # depths of strong contrast, so that
    torch.nn.init.normal_(weights.weight, std=3.0)  # the two sides' differ within a window
    torch.nn.init.constant_(weights.bias, -3.0)
    photographs = torch.from_numpy(stack(front, back)).permute(2, 0, 1)[None]
    with torch.no_grad():
        depth = model.members[0].absorption(torch.cat([photographs[:, :3], photographs[:, 3:6]]))
        thicker = torch.linspace(1.1, 1.3, 32)[:, None]  # front: thicker towards the bottom
        thinner = torch.linspace(0.9, 0.7, 32)  # back: thinner towards the right
        uneven = depth[:1] * thicker + depth[1:] * thinner
        batch = torch.cat([photographs[:, :6], model.members[0].mixing(uneven)], dim=1)
        # scale 1: squared error, so the losses compare as mean squared residuals
        plain = shared_loss(model, batch, 0.5, scale=1.0, refine=0.4).item()
        refined = shared_loss(model, batch, 0.6, scale=1.0, refine=0.4, ridge=0.01).item()
    assert refined < plain / 100, (plain, refined)
