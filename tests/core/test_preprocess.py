"""Scaling into network units: RGB by dtype, the X-ray's 1–99 % stretch, truth alongside."""

from __future__ import annotations

import numpy as np
import pytest

from xraysep.core.preprocess import stretch, stretch_limits, stretch_side, unit_scale


def test_unit_scale_by_dtype():
    assert unit_scale(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]
    assert unit_scale(np.array([0, 65535], np.uint16)).tolist() == [0.0, 1.0]
    assert unit_scale(np.array([32768], np.uint16))[0] == pytest.approx(0.5, abs=1e-4)


def test_stretch_clips_percentiles_to_unit_range():
    xray = np.arange(1000, dtype=np.float32).reshape(10, 100)
    low, high = stretch_limits(xray)
    assert (low, high) == pytest.approx((9.99, 989.01))
    stretched = stretch(xray, low, high)
    assert stretched.min() == 0.0 and stretched.max() == 1.0
    assert (stretched == 0).sum() == 10 and (stretched == 1).sum() == 10
    assert stretched.dtype == np.float32


def test_stretched_sides_sum_to_stretched_mixture():
    rng = np.random.default_rng(0)
    front, back = rng.random((20, 20)), rng.random((20, 20))
    low, high = 0.2, 1.7
    xray = front + back
    inside = (xray > low) & (xray < high)
    total = stretch_side(front, low, high) + stretch_side(back, low, high)
    np.testing.assert_allclose(total[inside], stretch(xray, low, high)[inside], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_integer_limits_are_numpys_percentiles_to_the_last_bit(dtype):
    """Integer X-rays are counted band by band into a histogram (a gigapixel scan is never
    read whole); the limits must still be exactly what np.percentile gives."""
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    for height, width in ((1, 1), (7, 3), (1500, 37), (260, 255)):
        xray = rng.normal(info.max / 3, info.max / 8, (height, width))
        xray = xray.clip(info.min, info.max).astype(dtype)
        expected = tuple(float(v) for v in np.percentile(xray, (1.0, 99.0)))
        assert stretch_limits(xray) == expected
