"""Local filters that several methods share, exact under tiled inference.

On the CPU they are sums of shifted copies with a hand-written backward: for one or a few
channels, oneDNN's convolution and ``avg_pool2d``'s backward are several times slower than
shifted sums, which do the same additions in the same order (bit-identical results;
docs/performance.md, Training on the CPU). On accelerators the library's kernels run."""

from __future__ import annotations

import torch
from torch.nn import functional


def _line_sum(image: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Sum over the ``2r + 1`` neighbours along ``dim`` (2 or 3 of N, C, H, W), zeros beyond
    the image, added in the order ``avg_pool2d`` adds them. The image is copied once into a
    buffer whose margins alone are zeroed."""
    if radius == 0:
        return image.clone()
    length = image.shape[dim]
    shape = list(image.shape)
    shape[dim] = length + 2 * radius
    padded = image.new_empty(shape)
    padded.narrow(dim, 0, radius).zero_()
    padded.narrow(dim, radius + length, radius).zero_()
    padded.narrow(dim, radius, length).copy_(image)
    total = padded.narrow(dim, 0, length) + padded.narrow(dim, 1, length)
    for start in range(2, 2 * radius + 1):
        total += padded.narrow(dim, start, length)
    return total


class _LineSum(torch.autograd.Function):
    """:func:`_line_sum` with its backward: the sum is its own adjoint."""

    @staticmethod
    def forward(ctx, image: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
        ctx.radius, ctx.dim = radius, dim
        return _line_sum(image, radius, dim)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return _line_sum(grad, ctx.radius, ctx.dim), None, None


def _counts(length: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    """How many of each position's ``2r + 1`` neighbours lie inside ``length``."""
    index = torch.arange(length, device=like.device)
    inside = (index + radius).clamp_max(length - 1) - (index - radius).clamp_min(0) + 1
    return inside.to(like.dtype)


def box_mean(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)² window of an (N, C, H, W) tensor, counting only pixels inside the
    image (exact when tiled).

    Separable: a column mean then a row mean (the window's pixels inside the image form a
    rectangle, so the mean of means is the mean), 2(2r+1) reads a pixel instead of (2r+1)²."""
    if image.device.type != "cpu":
        size = 2 * radius + 1
        columns = functional.avg_pool2d(image, (size, 1), 1, (radius, 0), count_include_pad=False)
        return functional.avg_pool2d(columns, (1, size), 1, (0, radius), count_include_pad=False)
    height, width = image.shape[-2:]
    columns = _LineSum.apply(image, radius, 2) / _counts(height, radius, image)[:, None]
    return _LineSum.apply(columns, radius, 3) / _counts(width, radius, image)


class _Correlate(torch.autograd.Function):
    """:func:`correlate` on the CPU: a sum of the kernel's shifted, weighted copies of the
    image; backward, the same with the flipped kernel, and one dot product per tap."""

    @staticmethod
    def forward(ctx, image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        padded = _pad_both(image, kernel.shape[0] // 2)
        ctx.save_for_backward(padded, kernel)
        return _taps(padded, kernel, image.shape[-2:])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        padded, kernel = ctx.saved_tensors
        size = kernel.shape[0]
        image_grad = _taps(_pad_both(grad, size // 2), kernel.flip(0, 1), grad.shape[-2:])
        return image_grad, _tap_products(grad, padded, size).view_as(kernel)


def _tap_products(grad: torch.Tensor, padded: torch.Tensor, size: int) -> torch.Tensor:
    """``Σ grad · padded[i : i + h, j : j + w]`` for every tap, as dot products of flat,
    contiguous vectors: ``grad`` laid out on ``padded``'s grid (zeros in the margin), so a
    tap is an offset of ``i`` rows and ``j`` columns into the flat padded image (strided
    2-D windows took four times as long)."""
    height, width = grad.shape[-2:]
    padded_height, padded_width = padded.shape[-2:]
    laid = functional.pad(grad, (0, padded_width - width, 0, padded_height - height)).flatten()
    flat = functional.pad(padded.flatten(), (0, (size - 1) * (padded_width + 1)))
    offsets = [row * padded_width + col for row in range(size) for col in range(size)]
    return torch.stack([torch.dot(laid, flat[at : at + len(laid)]) for at in offsets])


def _pad_both(image: torch.Tensor, radius: int) -> torch.Tensor:
    return functional.pad(image, (radius, radius, radius, radius))


def _taps(padded: torch.Tensor, kernel: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``Σ kernel[i, j] · padded[i : i + h, j : j + w]``, accumulated in row-major tap order."""
    (height, width), size = shape, kernel.shape[0]
    total = padded[..., :height, :width] * kernel[0, 0]
    for tap in range(1, size * size):
        row, col = divmod(tap, size)
        total.addcmul_(padded[..., row : row + height, col : col + width], kernel[row, col])
    return total


def correlate(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``conv2d`` of an (N, 1, H, W) image with one odd (k, k) kernel, zero-padded to the
    same size (a cross-correlation, as ``conv2d`` computes)."""
    if image.device.type != "cpu":
        return functional.conv2d(image, kernel[None, None], padding=kernel.shape[0] // 2)
    return _Correlate.apply(image, kernel)
