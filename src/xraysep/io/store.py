"""The zarr v3 panel store (DESIGN §5) and the store of separated results.

A panel is the group ``data/panels/<name>.zarr`` with arrays ``front`` and ``back`` (H, W, 3;
the back already mirrored into the X-ray frame), ``xray`` (H, W; stretched to [0, 1]) and, for
synthetic panels, ``truth/front_xray`` and ``truth/back_xray``. Chunks are 512×512 for cheap
random reads; shards of up to 4096×4096 pack them into few files so DVC tracks few objects.
Stores are built in a temporary folder and renamed into place, never edited in place; what a
killed writer left behind is recovered before a store is opened or written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from xraysep.core.preprocess import unit_scale
from xraysep.errors import InputError
from xraysep.io.atomic import atomic_dir, recover

CHUNK = 512
SHARD = 4096
SIDES = ("front", "back")


def _layout(shape: tuple[int, ...], shard: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Inner chunks and shards for an (H, W[, C]) array; shards are whole numbers of chunks."""
    chunk = min(CHUNK, shard)
    chunks = tuple(chunk for _ in shape[:2]) + tuple(shape[2:])
    shards = tuple(min(shard, math.ceil(n / chunk) * chunk) for n in shape[:2]) + tuple(shape[2:])
    return chunks, shards


def create_image_array(
    group: zarr.Group, name: str, shape: tuple[int, ...], dtype: Any, shard: int = SHARD
):
    """An empty sharded, zstd-compressed image array in ``group``."""
    chunks, shards = _layout(shape, shard)
    return group.create_array(
        name,
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        shards=shards,
        compressors=ZstdCodec(level=3),
        dimension_names=("y", "x", "c")[: len(shape)],
        fill_value=0,
    )


def blocks(shape: tuple[int, ...], size: int = SHARD) -> Iterator[tuple[slice, slice]]:
    """Row-major shard-aligned windows: writing one whole shard at a time never rewrites one."""
    for y in range(0, shape[0], size):
        for x in range(0, shape[1], size):
            yield slice(y, min(y + size, shape[0])), slice(x, min(x + size, shape[1]))


def write_arrays(group: zarr.Group, arrays: dict[str, np.ndarray]) -> None:
    """Write named in-memory arrays (``truth/front_xray`` makes a sub-group)."""
    for name, array in arrays.items():
        target = create_image_array(group, name, array.shape, array.dtype)
        for ys, xs in blocks(array.shape):
            target[ys, xs] = array[ys, xs]


def write_panel(path: Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Create the panel store at ``path`` atomically (replacing any previous one)."""
    with atomic_dir(path) as temporary:
        group = zarr.open_group(temporary, mode="w", zarr_format=3, attributes=attrs)
        write_arrays(group, arrays)


@dataclass(frozen=True)
class Panel:
    """A read-only view of a panel store; arrays are read lazily, region by region."""

    name: str
    path: Path
    group: zarr.Group

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.group.attrs)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.group["xray"].shape)

    @property
    def has_truth(self) -> bool:
        return "truth" in self.group

    def rgb(self, side: str, ys: slice = slice(None), xs: slice = slice(None)) -> np.ndarray:
        """One side's photograph (or a window of it) as float32 in [0, 1]."""
        return unit_scale(self.group[side][ys, xs])

    def xray(self, ys: slice = slice(None), xs: slice = slice(None)) -> np.ndarray:
        return self.group["xray"][ys, xs]

    def truth(self, side: str) -> np.ndarray:
        return self.group[f"truth/{side}_xray"][:]


def panel_exists(path: Path) -> bool:
    """Whether a panel store is at ``path``, counting one that a killed replacement had set
    aside (it is put back), so that ``--overwrite`` is still needed to replace it."""
    recover(path.parent)
    return path.exists()


def open_panel(path: Path, name: str) -> Panel:
    """Open an existing panel store or explain how to make one; a previous version that an
    interrupted replacement had set aside is put back first (:func:`~xraysep.io.atomic.recover`)."""
    recover(path.parent)
    if not (path / "zarr.json").is_file():
        raise InputError(
            f"{path}: panel {name!r} not found; create it with `xraysep ingest` or `xraysep synth`"
        )
    group = zarr.open_group(path, mode="r", zarr_format=3)
    missing = [key for key in (*SIDES, "xray") if key not in group]
    if missing:
        raise InputError(f"{path}: not a panel store (missing arrays {', '.join(missing)})")
    return Panel(name, path, group)
