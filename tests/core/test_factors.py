"""The factors that make a synthetic X-ray more than a function of the visible colours."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from xraysep.core import capture
from xraysep.core.factors import FACTORS, check_factors
from xraysep.core.physics import Physics, attenuation, radiograph
from xraysep.errors import InputError
from xraysep.jobs.synth import earlier_composition, photographs, source_image

SIZE = 96


@pytest.fixture(scope="module")
def pictures() -> tuple[np.ndarray, np.ndarray]:
    return source_image("chelsea", SIZE), source_image("rocket", SIZE)


def simulate(pictures, **factors):
    front, back = pictures
    physics = Physics(mixture="linear", grain=False, noise=0, factors=check_factors(factors))
    earlier = earlier_composition(SIZE) if "underpainting" in factors else None
    return radiograph(front, back, physics, np.random.default_rng(0), earlier)


def colour_explains(truth: np.ndarray, rgb: np.ndarray) -> float:
    """R² of the side's truth against the colour-determined model of its photograph."""
    model = ndimage.gaussian_filter(attenuation(rgb), 0.8)
    return float(np.corrcoef(model.ravel(), truth.ravel())[0, 1] ** 2)


def test_every_factor_is_documented_with_a_range():
    assert set(FACTORS) == {
        "metamerism", "layering", "underpainting", "ground", "support", "misregistration",
        "white-balance", "jpeg", "film-response",
    }  # fmt: skip
    assert all(f.high > 0 and f.unit and f.what for f in FACTORS.values())
    with pytest.raises(InputError, match=r"factor .layering.: strength 0\.7 is outside"):
        check_factors({"layering": 0.7})


@pytest.mark.parametrize("factor", ["metamerism", "layering"])
def test_regional_recipes_and_layers_break_the_colour_map(pictures, factor):
    front, back = pictures
    plain = simulate(pictures)
    broken = simulate(pictures, **{factor: 0.5})
    for truth_plain, truth_broken, rgb in (
        (plain.front_xray, broken.front_xray, front),
        (plain.back_xray[:, ::-1], broken.back_xray[:, ::-1], back),
    ):
        assert colour_explains(truth_broken, rgb) < 0.6 * colour_explains(truth_plain, rgb)
    np.testing.assert_array_equal(plain.hidden_xray, broken.hidden_xray)  # paint, not panel


def test_underpainting_is_hidden_and_leaves_the_sides_alone(pictures):
    plain = simulate(pictures)
    under = simulate(pictures, underpainting=1.0)
    np.testing.assert_array_equal(plain.front_xray, under.front_xray)
    np.testing.assert_array_equal(plain.back_xray, under.back_xray)
    added = (under.hidden_xray - plain.hidden_xray).ravel()
    assert np.corrcoef(added, earlier_composition(SIZE).ravel())[0, 1] > 0.95


def test_ground_and_support_are_hidden_broad_and_dense(pictures):
    ground = simulate(pictures, ground=1.0).hidden_xray
    support = simulate(pictures, support=1.0).hidden_xray
    assert ground.std() > 0.02 and np.abs(np.diff(ground, axis=1)).mean() < 0.01  # broad swells
    assert support.max() > 1.0  # nails: far denser than any paint (linear units: 0.5 τ)
    assert (support[:, SIZE // 4] > support[:, SIZE // 8] + 0.1).mean() > 0.8  # a batten


def test_misregistration_moves_the_photograph_by_its_strength(pictures):
    front = pictures[0]
    for pixels in (1.0, 3.0):
        moved = capture.misregister(front, pixels, np.random.default_rng(1))
        shift, _, _ = phase_cross_correlation(front.mean(-1), moved.mean(-1), upsample_factor=20)
        assert np.hypot(*shift) == pytest.approx(pixels, abs=0.35)


def test_capture_changes_the_photographs_never_the_truth(pictures):
    front, back = pictures
    shot_front, shot_back = photographs(front, back, {"white-balance": 1.0}, seed=3)
    gains = [(shot / np.maximum(rgb, 1e-3)).reshape(-1, 3)[rgb.reshape(-1, 3).max(1) < 0.8]
             for shot, rgb in ((shot_front, front), (shot_back, back))]  # fmt: skip
    front_gain, back_gain = (np.median(g, axis=0) for g in gains)
    assert np.abs(np.log(front_gain / back_gain)).max() > 0.1  # lit and exposed differently
    assert capture.jpeg_quality(0.0) is None and capture.jpeg_quality(0.5) == 50
    assert capture.jpeg_quality(1.0) == capture.JPEG_LOWEST_QUALITY


def test_film_response_is_monotone_and_s_shaped():
    absorption = np.linspace(0.2, 0.8, 101, dtype=np.float32)
    recorded = capture.film_response(absorption, 1.0)
    assert (np.diff(recorded) > 0).all()
    assert recorded[0] == pytest.approx(0.2) and recorded[-1] == pytest.approx(0.8)
    slopes = np.diff(recorded)
    assert slopes[50] > 2 * slopes[0] and slopes[50] > 2 * slopes[-1]  # toe and shoulder
    np.testing.assert_array_equal(capture.film_response(absorption, 0.0), absorption)
