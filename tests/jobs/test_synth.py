"""Synthetic panels: the physics, and the store they are ingested into."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from xraysep.core.physics import Physics, attenuation, radiograph
from xraysep.jobs.synth import source_image


def test_lead_white_absorbs_more_than_carbon_black_and_lake():
    rgb = np.array([[[0.93, 0.92, 0.88], [0.06, 0.06, 0.06], [0.55, 0.10, 0.22]]], np.float32)
    white, black, lake = attenuation(rgb)[0]
    assert white > 0.9 and black < 0.1 and lake < 0.2


def test_linear_mixture_is_the_sum_of_the_sides():
    rng = np.random.default_rng(0)
    front, back = source_image("astronaut", 32), source_image("coffee", 32)
    clean = radiograph(front, back, Physics(mixture="linear", grain=False, noise=0), rng)
    np.testing.assert_allclose(clean.xray, clean.front_xray + clean.back_xray, atol=1e-6)
    assert not clean.hidden_xray.any()  # no grain, no factor: nothing hidden


def test_beer_lambert_is_sub_additive_and_the_back_is_mirrored():
    rng = np.random.default_rng(0)
    front, back = source_image("astronaut", 32), source_image("coffee", 32)
    result = radiograph(front, back, Physics(grain=False, noise=0), rng)
    assert (result.xray <= result.front_xray + result.back_xray + 1e-6).all()
    assert (result.xray >= np.maximum(result.front_xray, result.back_xray) - 1e-6).all()
    # the back's X-ray follows the back photograph seen from the front, i.e. mirrored
    mirrored = attenuation(back)[:, ::-1]
    assert np.corrcoef(mirrored.ravel(), result.back_xray.ravel())[0, 1] > 0.8


def test_synth_cli_builds_a_panel_with_truth(project, cli):
    code, _, err = cli(
        "synth", "s1", "--size", "40", "--seed", "3", "--factor", "support=0.5",
        "--factor", "underpainting=0.5",
    )  # fmt: skip
    assert code == 0, err
    group = zarr.open_group(project / "data" / "panels" / "s1.zarr", mode="r")
    assert group["front"].shape == (40, 40, 3) and group["xray"].shape == (40, 40)
    assert group["truth/front_xray"].shape == group["truth/back_xray"].shape == (40, 40)
    assert {p.name for p in (project / "data" / "raw" / "s1").iterdir()} == {
        "front.png", "back.png", "xray.tiff", "truth_front.tiff", "truth_back.tiff",
        "truth_hidden.tiff", "made_by.json",
    }  # fmt: skip
    made = dict(group.attrs)["xraysep"]["made_by"]["synth"]
    assert made["factors"] == {"support": 0.5, "underpainting": 0.5}
    # the truth is in the stretched X-ray's units: the sides and the hidden part explain it
    total = sum(group[f"truth/{part}_xray"][:] for part in ("front", "back", "hidden"))
    assert np.corrcoef(total.ravel(), group["xray"][:].ravel())[0, 1] > 0.9


def test_same_seed_same_panel(project, cli):
    for name in ("a", "b"):
        assert cli("synth", name, "--size", "32", "--seed", "5")[0] == 0
    groups = [zarr.open_group(project / "data" / "panels" / f"{n}.zarr", mode="r") for n in "ab"]
    np.testing.assert_array_equal(groups[0]["xray"][:], groups[1]["xray"][:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--front", "nosuch"], "source image 'nosuch': unknown"),
        (["--mixture", "quadratic"], "mixture 'quadratic': unknown"),
        (["--size", "4"], "--size 4: must be at least 16"),
        (["--factor", "craquelure=0.5"], "factor 'craquelure': unknown; choose one of metamerism,"),
        (["--factor", "jpeg=2"], "factor 'jpeg': strength '2' is outside [0, 1]"),
        (["--factor", "misregistration=-1"], "factor 'misregistration': strength '-1' is outside"),
        (["--factor", "ground"], "factor 'ground': write NAME=STRENGTH"),
    ],
)
def test_synth_refuses_bad_options(project, cli, args, message):
    code, _, err = cli("synth", "s1", *args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (project / "data" / "panels" / "s1.zarr").exists()
