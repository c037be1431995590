"""The CPU filters (core.filters): the library's results, bit for bit where the additions are
the same, with gradients that autograd's numerical check accepts."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional

from xraysep.core.filters import box_mean, correlate


def pooled_box_mean(image: torch.Tensor, radius: int) -> torch.Tensor:
    """What box_mean computes on accelerators: avg_pool2d, a column then a row pass."""
    size = 2 * radius + 1
    columns = functional.avg_pool2d(image, (size, 1), 1, (radius, 0), count_include_pad=False)
    return functional.avg_pool2d(columns, (1, size), 1, (0, radius), count_include_pad=False)


@pytest.mark.parametrize(
    ("shape", "radius"), [((1, 5, 64, 48), 6), ((2, 1, 9, 5), 6), ((1, 2, 7, 7), 0)]
)
def test_box_mean_is_avg_pool_bit_for_bit(shape, radius):
    """Same additions in the same order: the sum-consistent combine's records stay valid."""
    image = torch.randn(shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    expected = pooled_box_mean(image, radius)
    weights = torch.randn(expected.shape, generator=torch.Generator().manual_seed(1))
    (expected_grad,) = torch.autograd.grad(expected, image, weights)
    got = box_mean(image, radius)
    (got_grad,) = torch.autograd.grad(got, image, weights)
    assert torch.equal(got, expected) and torch.equal(got_grad, expected_grad)


def test_correlate_is_conv2d_with_exact_forward_and_checked_gradients():
    generator = torch.Generator().manual_seed(2)
    image = torch.randn(2, 1, 30, 23, generator=generator)
    kernel = torch.randn(5, 5, generator=generator)
    assert torch.equal(
        correlate(image, kernel), functional.conv2d(image, kernel[None, None], padding=2)
    )
    image64 = image[..., :12, :9].double().requires_grad_()
    kernel64 = kernel[:3, :3].double().requires_grad_()
    assert torch.autograd.gradcheck(correlate, (image64, kernel64))
    assert torch.autograd.gradcheck(lambda x: box_mean(x, 2), (image64,))
