"""Inference of one branch over an image of any size, tile by tile.

A pixel of the output depends only on input pixels within the branch's receptive-field
radius ``r``. So a tile read with a halo of ``r`` pixels (clipped at the image border, where
the network zero-pads exactly as it does on the whole image) gives, after cropping the halo,
the same values as whole-image inference. Batch normalisation runs in eval mode, a fixed
per-channel affine map, so tiling does not change it either. Memory is bounded by the tile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import dask.array as da
import numpy as np
import torch
from torch import nn

from xraysep.core import device as devices
from xraysep.core.allocator import return_large_buffers
from xraysep.core.preprocess import unit_scale

Reader = Callable[[slice, slice], np.ndarray]  # (rows, cols) -> (h, w, c) float32 in [0, 1]


def windows(region: tuple[slice, slice], tile: int) -> Iterator[tuple[slice, slice]]:
    """Row-major tiles covering ``region``."""
    ys, xs = region
    for y in range(ys.start, ys.stop, tile):
        for x in range(xs.start, xs.stop, tile):
            yield slice(y, min(y + tile, ys.stop)), slice(x, min(x + tile, xs.stop))


def centre_window(shape: tuple[int, int], size: int) -> tuple[slice, slice]:
    """A centred window of at most ``size``²: previews and checks that stay cheap on
    gigapixel panels and cover small panels whole."""
    (h, w), (ph, pw) = shape, (min(size, shape[0]), min(size, shape[1]))
    top, left = (h - ph) // 2, (w - pw) // 2
    return slice(top, top + ph), slice(left, left + pw)


def with_halo(window: slice, halo: int, size: int) -> slice:
    return slice(max(0, window.start - halo), min(size, window.stop + halo))


@torch.inference_mode()
def run(branch: nn.Module, rgb: np.ndarray, device: torch.device) -> np.ndarray:
    """One forward pass of ``branch`` on an (h, w, 3) array -> (h, w) float32."""
    branch.eval()
    batch = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    with devices.autocast(device):
        out = branch(devices.to_device(batch, device))
    return out[0, 0].float().cpu().numpy()


def predict_region(
    branch: nn.Module,
    read: Reader,
    shape: tuple[int, int],
    region: tuple[slice, slice],
    *,
    halo: int,
    tile: int,
    device: torch.device,
) -> np.ndarray:
    """The branch's output over ``region`` of an image of ``shape``, computed in tiles."""
    ys, xs = region
    out = np.empty((ys.stop - ys.start, xs.stop - xs.start), dtype=np.float32)
    for wy, wx in windows(region, tile):
        ry, rx = with_halo(wy, halo, shape[0]), with_halo(wx, halo, shape[1])
        result = run(branch, read(ry, rx), device)
        top, left = wy.start - ry.start, wx.start - rx.start
        out[wy.start - ys.start : wy.stop - ys.start, wx.start - xs.start : wx.stop - xs.start] = (
            result[top : top + wy.stop - wy.start, left : left + wx.stop - wx.start]
        )
    return out


def predict(
    branch: nn.Module, rgb: np.ndarray, *, halo: int, tile: int, device: torch.device
) -> np.ndarray:
    """The branch's output over a whole in-memory (H, W, 3) image."""
    shape = rgb.shape[:2]
    region = (slice(0, shape[0]), slice(0, shape[1]))
    return predict_region(
        branch, lambda ys, xs: rgb[ys, xs], shape, region, halo=halo, tile=tile, device=device
    )


def map_module(
    parts: Sequence[da.Array],
    load_module: Callable[[], nn.Module],
    *,
    halo: int,
    tile: int,
    device: torch.device,
) -> da.Array:
    """A module over the stack made of ``parts``, dask (H, W, c) arrays in the same blocks
    (the front and back photographs as stored, the X-ray): ``map_overlap`` hands each block
    its halo from the neighbours (none beyond the image border, where the network zero-pads
    as on the whole image), runs it in tiles, and trims the halo again, so the result equals
    whole-image inference. Each tile's stack is built (scaled to [0, 1], float32) only when it
    is run, so a block in flight holds its parts in their stored dtypes (8-bit photographs),
    not a float copy of all channels. ``load_module`` is called in the worker, so a
    distributed cluster loads the weights itself instead of receiving them, and sets up its
    own allocator (``core.allocator``) so that memory stays flat over a whole panel."""

    def block(*chunks: np.ndarray) -> np.ndarray:
        return_large_buffers()
        shape = chunks[0].shape[:2]

        def read(ys: slice, xs: slice) -> np.ndarray:
            return np.concatenate([unit_scale(chunk[ys, xs]) for chunk in chunks], axis=-1)

        whole = (slice(0, shape[0]), slice(0, shape[1]))
        return predict_region(
            load_module(), read, shape, whole, halo=halo, tile=tile, device=device
        )

    return da.map_overlap(
        block,
        *parts,
        depth={0: halo, 1: halo, 2: 0},
        boundary="none",
        trim=True,
        drop_axis=2,
        dtype=np.float32,
        meta=np.empty((0, 0), dtype=np.float32),
    )
