"""The zarr v3 panel store and the store of separated results (docs/design.md, The panel store).

A panel is the group ``data/panels/<name>.zarr`` with arrays ``front`` and ``back`` (H, W, 3;
the back already mirrored into the X-ray frame), ``xray`` (H, W; stretched to [0, 1]) and, for
synthetic panels, ``truth/front_xray`` and ``truth/back_xray``. Chunks are 512×512 for cheap
random reads; shards of up to 4096×4096 pack them into few files so DVC tracks few objects.
Stores are built in a temporary folder and renamed into place, never edited in place; what a
killed writer left behind is recovered before a store is opened or written. Every chunk
carries a checksum (``io.integrity``); opening a panel checks its arrays' shapes and types
and every read checks the values' documented ranges (``io.contents``), so damage stops a job
with one line naming the chunk instead of flowing into its results. A store written before
checksums is still read, with a warning to make it again.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from xraysep.core.preprocess import unit_scale
from xraysep.errors import InputError
from xraysep.io import contents, integrity, locks
from xraysep.io.atomic import atomic_dir, recover
from xraysep.io.console import warn

CHUNK = 512
SHARD = 4096


def _layout(
    shape: tuple[int, ...], shard: int, channels_first: bool
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Inner chunks and shards for an (H, W[, C]) or (C, H, W) array; shards are whole numbers
    of chunks, and a chunk holds every channel of its pixels."""
    chunk = min(CHUNK, shard)
    spatial, channels = (shape[-2:], shape[:-2]) if channels_first else (shape[:2], shape[2:])
    chunks = tuple(chunk for _ in spatial)
    shards = tuple(min(shard, math.ceil(n / chunk) * chunk) for n in spatial)
    if channels_first:
        return (*channels, *chunks), (*channels, *shards)
    return (*chunks, *channels), (*shards, *channels)


def create_image_array(
    group: zarr.Group,
    name: str,
    shape: tuple[int, ...],
    dtype: Any,
    shard: int = SHARD,
    *,
    channels_first: bool = False,
):
    """An empty sharded image array in ``group``, each chunk zstd-compressed and
    checksummed, every chunk stored (``io.integrity``); dimensions ``y, x[, c]``, or
    ``c, y, x`` with ``channels_first`` (the order OME-Zarr requires)."""
    chunks, shards = _layout(shape, shard, channels_first)
    names = ("c", "y", "x")[3 - len(shape) :] if channels_first else ("y", "x", "c")[: len(shape)]
    return group.create_array(
        name,
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        shards=shards,
        compressors=integrity.COMPRESSORS,
        dimension_names=names,
        fill_value=0,
        config=integrity.WRITE_CONFIG,
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


def write_panel(
    path: Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any], *, overwrite: bool
) -> None:
    """Create the panel store at ``path`` atomically, replacing a previous one only with
    ``overwrite``; holds the store's writer lock (``io.locks``), so a second writer, or a
    writer while a job reads the store, stops with one line naming the other process."""
    with locks.writing(path):
        if panel_exists(path) and not overwrite:
            raise InputError(f"{path}: panel {path.stem!r} exists; pass --overwrite to replace it")
        with atomic_dir(path) as temporary:
            group = zarr.open_group(temporary, mode="w-", zarr_format=3, attributes=attrs)
            write_arrays(group, arrays)


@dataclass(frozen=True)
class Checked:
    """A stored array whose reads go through its checksums and its documented value range:
    what the panel's readers and dask index. A damaged chunk or an out-of-range value raises
    one :class:`InputError` line naming ``store``, ``key`` and where."""

    array: zarr.Array
    store: Path
    key: str
    spec: contents.Spec

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return len(self.array.shape)

    def __getitem__(self, window: slice | tuple[slice, ...]) -> np.ndarray:
        window = window if isinstance(window, tuple) else (window,)
        values = integrity.read(self.array, self.store, self.key, window)
        where = integrity.pixels(window, self.array.shape, integrity.spatial_axes(self.array))
        contents.check_values(self.store, self.key, values, self.spec, where)
        return values


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

    def array(self, key: str) -> Checked:
        """The stored array ``key`` (``front``, ``xray``, ``truth/front_xray``), read checked."""
        return Checked(self.group[key], self.path, key, contents.panel_spec(key))

    def rgb(self, side: str, ys: slice = slice(None), xs: slice = slice(None)) -> np.ndarray:
        """One side's photograph (or a window of it) as float32 in [0, 1]."""
        return unit_scale(self.array(side)[ys, xs])

    def xray(self, ys: slice = slice(None), xs: slice = slice(None)) -> np.ndarray:
        return self.array("xray")[ys, xs]

    def truth(self, side: str) -> np.ndarray:
        return self.array(f"truth/{side}_xray")[:]

    def hidden_truth(self) -> np.ndarray | None:
        """The true hidden content (``core.hidden``), where the panel has it."""
        return self.truth("hidden") if "truth/hidden_xray" in self.group else None


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
    missing = [key for key in contents.PANEL if key not in group]
    if missing:
        raise InputError(f"{path}: not a panel store (missing arrays {', '.join(missing)})")
    arrays = contents.PANEL | (contents.TRUTH if "truth" in group else {})
    size = tuple(group["xray"].shape[:2])
    for key, spec in arrays.items():
        if key not in group:
            raise InputError(f"{path}: array {key!r} is missing (a panel with truth has both)")
        contents.check_array(path, key, group[key], spec, size)
    if not all(integrity.has_checksums(group[key]) for key in arrays):
        warn_unchecked(path)
    return Panel(name, path, group)


@functools.cache
def warn_unchecked(path: Path) -> None:
    """Say once per process that the store at ``path`` has no chunk checksums."""
    warn(
        f"{path}: written without chunk checksums, so damage to it cannot be detected; "
        "make it again (`xraysep ingest --overwrite` or `xraysep synth --overwrite`)"
    )
