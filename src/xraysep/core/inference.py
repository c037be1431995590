"""Inference of one branch over an image of any size, tile by tile.

A pixel of the output depends only on input pixels within the branch's receptive-field
radius ``r``. So a tile read with a halo of ``r`` pixels (clipped at the image border, where
the network zero-pads exactly as it does on the whole image) gives, after cropping the halo,
the same values as whole-image inference. Batch normalisation runs in eval mode, a fixed
per-channel affine map, so tiling does not change it either. Memory is bounded by the tile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar

import dask.array as da
import numpy as np
import torch
from torch import nn

from xraysep.core import device as devices
from xraysep.core.allocator import release_freed_memory
from xraysep.core.preprocess import unit_scale

Reader = Callable[[slice, slice], np.ndarray]  # (rows, cols) -> (h, w, c) float32 in [0, 1]

_PASSES: ContextVar[dict[tuple, tuple[torch.Tensor, torch.Tensor]] | None] = ContextVar(
    "passes", default=None
)


@contextlib.contextmanager
def shared_passes() -> Iterator[None]:
    """Within it, ``once`` runs each module on each input a single time.

    A separator's outputs share network passes: the paper's front and back are two of the
    four slots whose disagreement is the uncertainty map, and the sum-consistent rule needs
    all four for each side. Run together on one tile, the paper's model makes 4 passes
    instead of 6, the sum-consistent rule 4 instead of 12.
    """
    token = _PASSES.set({})
    try:
        yield
    finally:
        _PASSES.reset(token)


def once(module: nn.Module, stack: torch.Tensor, channels: slice) -> torch.Tensor:
    """``module(stack[:, channels])``, computed once per module and input inside
    ``shared_passes``. The entry holds the input too, so no other tensor can take its id
    while the context lasts."""
    passes = _PASSES.get()
    if passes is None:
        return module(stack[:, channels])
    key = (id(module), id(stack), channels.start, channels.stop)
    if key not in passes:
        passes[key] = (stack, module(stack[:, channels]))
    return passes[key][1]


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
def run_all(branches: Sequence[nn.Module], rgb: np.ndarray, device: torch.device) -> np.ndarray:
    """Each branch on one (h, w, c) array, sharing their common passes -> (K, h, w) float32."""
    batch = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    batch = devices.to_device(batch, device)
    with devices.autocast(device), shared_passes():
        out = torch.cat([branch.eval()(batch)[0] for branch in branches])
    return out.float().cpu().numpy()


def run(branch: nn.Module, rgb: np.ndarray, device: torch.device) -> np.ndarray:
    """One forward pass of ``branch`` on an (h, w, 3) array -> (h, w) float32."""
    return run_all([branch], rgb, device)[0]


def predict_region(
    branches: Sequence[nn.Module],
    read: Reader,
    shape: tuple[int, int],
    region: tuple[slice, slice],
    *,
    halo: int,
    tile: int,
    device: torch.device,
) -> np.ndarray:
    """Each branch's output over ``region`` of an image of ``shape``, (K, h, w), computed in
    tiles: each tile is read once for all branches, and the heaps' freed pages go back to the
    system after it (``core.allocator``), so memory does not creep up over a whole panel.
    The branches run together on each tile, sharing the passes they have in common."""
    ys, xs = region
    out = np.empty((len(branches), ys.stop - ys.start, xs.stop - xs.start), dtype=np.float32)
    for wy, wx in windows(region, tile):
        ry, rx = with_halo(wy, halo, shape[0]), with_halo(wx, halo, shape[1])
        inputs = read(ry, rx)
        top, left = wy.start - ry.start, wx.start - rx.start
        rows, cols = slice(top, top + wy.stop - wy.start), slice(left, left + wx.stop - wx.start)
        into = (slice(wy.start - ys.start, wy.stop - ys.start),
                slice(wx.start - xs.start, wx.stop - xs.start))  # fmt: skip
        out[(slice(None), *into)] = run_all(branches, inputs, device)[:, rows, cols]
        release_freed_memory()
    return out


def predict_all(
    branches: Sequence[nn.Module], rgb: np.ndarray, *, halo: int, tile: int, device: torch.device
) -> np.ndarray:
    """Each branch's output over a whole in-memory (H, W, c) image, (K, H, W)."""
    shape = rgb.shape[:2]
    region = (slice(0, shape[0]), slice(0, shape[1]))
    return predict_region(
        branches, lambda ys, xs: rgb[ys, xs], shape, region, halo=halo, tile=tile, device=device
    )


def predict(
    branch: nn.Module, rgb: np.ndarray, *, halo: int, tile: int, device: torch.device
) -> np.ndarray:
    """The branch's output over a whole in-memory (H, W, 3) image."""
    return predict_all([branch], rgb, halo=halo, tile=tile, device=device)[0]


def map_modules(
    parts: Sequence[da.Array],
    load_modules: Callable[[], Sequence[nn.Module]],
    count: int,
    *,
    halo: int,
    tile: int,
    device: torch.device,
) -> da.Array:
    """The ``count`` modules ``load_modules`` gives, over the stack made of ``parts``: an
    (H, W, count) dask array. ``parts`` are dask (H, W, c) arrays in the same blocks (the
    front and back photographs as stored, the X-ray). Each block gets its halo from the
    neighbours (none beyond the image border, where the network zero-pads as on the whole
    image), is run in tiles, and loses the halo again, so the result equals whole-image
    inference: ``dask.array.map_overlap``'s own three steps (overlap, map_blocks, trim),
    spelled out because the result has an axis of outputs that no input has. One task per
    block computes every output, so each input block is read once and freed once its
    neighbours are done, instead of being held until the last of several separate graphs
    gets to it. Each tile's stack is built (scaled to [0, 1], float32) only when it is run,
    so a block in flight holds its parts in their stored dtypes (8-bit photographs).
    ``load_modules`` is called in the worker, so a distributed cluster loads the weights
    itself instead of receiving them."""
    depth = {0: halo, 1: halo, 2: 0}
    overlapped = [da.overlap.overlap(part, depth=depth, boundary="none") for part in parts]

    def block(*chunks: np.ndarray) -> np.ndarray:
        shape = chunks[0].shape[:2]

        def read(ys: slice, xs: slice) -> np.ndarray:
            return np.concatenate([unit_scale(chunk[ys, xs]) for chunk in chunks], axis=-1)

        whole = (slice(0, shape[0]), slice(0, shape[1]))
        out = predict_region(
            load_modules(), read, shape, whole, halo=halo, tile=tile, device=device
        )
        return np.moveaxis(out, 0, -1)

    result = da.map_blocks(
        block,
        *overlapped,
        chunks=(*overlapped[0].chunks[:2], (count,)),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), dtype=np.float32),
    )
    return da.overlap.trim_internal(result, depth, boundary="none")
