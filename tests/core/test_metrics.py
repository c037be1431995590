"""Metrics pinned on cases with known answers (docs/design.md, Metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.data import camera, moon
from skimage.transform import resize

from xraysep.core.metrics import correlation, reconstruction, score


@pytest.fixture
def sides():
    front = resize(camera(), (64, 64)).astype(np.float64)
    back = resize(moon(), (64, 64)).astype(np.float64) * 0.5
    return front, back, front + back


def test_reconstruction_known_values():
    xray = np.full((4, 4), 1.0)
    assert reconstruction(xray, np.full((4, 4), 0.25), np.full((4, 4), 0.5)) == {
        "recon_mse": pytest.approx(0.0625),
        "recon_mae": pytest.approx(0.25),
    }


def test_reconstruction_does_not_measure_separation(sides):
    xray = sides[2]
    # x1 = x, x2 = 0 explains the mixture perfectly and separates nothing
    assert reconstruction(xray, xray, np.zeros_like(xray))["recon_mse"] == 0.0


def test_perfect_separation(sides):
    front, back, xray = sides
    result = score(xray, front, back, front, back)
    assert result["recon_mse"] == pytest.approx(0.0, abs=1e-20)
    assert math.isinf(result["front_psnr"]) and math.isinf(result["back_psnr"])
    assert result["front_ssim"] == pytest.approx(1.0) and result["back_ssim"] == pytest.approx(1.0)
    assert result["crosstalk"] == 0.0


def test_offset_is_not_penalised(sides):
    front, back, xray = sides
    shifted = score(xray, front + 0.3, back - 0.3, front, back)
    assert shifted["front_psnr"] > 200 and shifted["back_psnr"] > 200  # float rounding only
    assert shifted["front_ssim"] == pytest.approx(1.0)
    assert shifted["recon_mse"] == pytest.approx(0.0, abs=1e-20)
    assert shifted["crosstalk"] < 1e-6


def test_full_leakage(sides):
    front, back, xray = sides
    result = score(xray, xray, np.zeros_like(xray), front, back)
    # the front estimate carries the whole back image; the back estimate misses itself
    assert result["front_crosstalk"] == pytest.approx(1.0)
    # the back's error is -back: its crosstalk is only the images' own correlation
    assert result["back_crosstalk"] == pytest.approx(abs(correlation(back, front)))
    # the front's error is the back image minus its mean: PSNR = 10 log10(1 / var(back))
    assert result["front_psnr"] == pytest.approx(10 * np.log10(1 / back.var()))
    assert result["recon_mse"] == 0.0


def test_half_leakage_psnr_value():
    rng = np.random.default_rng(1)
    truth = rng.random((32, 32))
    estimate = truth + 0.1 * np.sign(rng.standard_normal((32, 32)))  # error of exactly ±0.1
    error = estimate - truth
    expected = 10 * np.log10(1.0 / np.mean((error - error.mean()) ** 2))
    other = rng.random((32, 32))
    assert score(truth, estimate, np.zeros_like(truth), truth, other)["front_psnr"] == (
        pytest.approx(expected)
    )


def test_correlation_of_constant_is_zero():
    assert correlation(np.ones((3, 3)), np.arange(9.0).reshape(3, 3)) == 0.0
    assert correlation(np.arange(9.0), -2 * np.arange(9.0)) == pytest.approx(-1.0)
