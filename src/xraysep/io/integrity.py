"""Checksums on zarr chunks: how arrays are encoded, and which chunk a failed read came from.

Every array the project writes stores each inner chunk zstd-compressed and followed by its
CRC-32C (zarr v3's ``crc32c`` codec); the sharding codec's default already checksums each
shard's index. Every chunk is written, even one equal to the fill value, so that a missing
shard file is damage too. A read that fails to decode is traced to the first damaged chunk
of the requested window and becomes one :class:`~xraysep.errors.InputError` naming the store,
the array and the chunk; a failure that no single chunk reproduces is re-raised as it was (a
bug, not damage).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec, ShardingCodec, ZstdCodec

from xraysep.errors import InputError, reason

Window = tuple[slice, ...]

COMPRESSORS = (ZstdCodec(level=3), Crc32cCodec())
# zarr skips chunks equal to the fill value by default; then an absent chunk reads as zeros
# and cannot be told from a lost one
WRITE_CONFIG = {"write_empty_chunks": True}
ADVICE = "restore the store from a copy (`dvc checkout`) or make it again"


def inner_codecs(array: zarr.Array) -> tuple[Any, ...]:
    """The codecs applied to each inner chunk (inside the shard when the array is sharded)."""
    codecs = tuple(array.metadata.codecs)
    for codec in codecs:
        if isinstance(codec, ShardingCodec):
            return tuple(codec.codecs)
    return codecs


def has_checksums(array: zarr.Array) -> bool:
    """Whether each chunk of ``array`` carries a CRC-32C."""
    return any(isinstance(codec, Crc32cCodec) for codec in inner_codecs(array))


def _normalise(window: Window, shape: tuple[int, ...]) -> tuple[range, ...]:
    """Each axis of ``window`` (slices with step 1, integers, at most one ``...``; missing
    axes whole) as a range of indices."""
    axes = list(window)
    if Ellipsis in axes:
        at = axes.index(Ellipsis)
        axes[at : at + 1] = [slice(None)] * (len(shape) - len(axes) + 1)
    axes += [slice(None)] * (len(shape) - len(axes))
    return tuple(
        range(*(axis if isinstance(axis, slice) else slice(axis, axis + 1)).indices(n))
        for axis, n in zip(axes, shape, strict=True)
    )


def spatial_axes(array: zarr.Array) -> tuple[int, int]:
    """Where the rows and the columns are: the axes named ``y`` and ``x`` (``c, y, x`` in an
    OME-Zarr level), else the first two."""
    names = tuple(array.metadata.dimension_names or ())
    return (names.index("y"), names.index("x")) if {"y", "x"} <= set(names) else (0, 1)


def pixels(window: Window, shape: tuple[int, ...], axes: tuple[int, int] = (0, 1)) -> str:
    """``rows 0-511, columns 512-1023``: the rows and columns (``axes``) of ``window`` in words."""
    spans = _normalise(window, shape)
    rows, cols = spans[axes[0]], spans[axes[1]]
    return f"rows {rows.start}-{rows.stop - 1}, columns {cols.start}-{cols.stop - 1}"


def chunks_in(array: zarr.Array, window: Window) -> Iterator[tuple[tuple[int, ...], Window]]:
    """The inner chunks that ``window`` touches: (chunk index, the chunk's own window)."""
    chunk = array.chunks
    spans = []
    for axis, size, n in zip(_normalise(window, array.shape), chunk, array.shape, strict=True):
        first, last = (axis.start // size, (axis.stop - 1) // size) if len(axis) else (0, -1)
        spans.append([(i, slice(i * size, min((i + 1) * size, n))) for i in range(first, last + 1)])
    for combination in itertools.product(*spans):
        yield tuple(i for i, _ in combination), tuple(s for _, s in combination)


def shard_file(array: zarr.Array, index: tuple[int, ...]) -> str:
    """The file, relative to the array's folder, that holds inner chunk ``index``."""
    per_shard = tuple(
        s // c for s, c in zip(array.shards or array.chunks, array.chunks, strict=True)
    )
    shard = tuple(i // k for i, k in zip(index, per_shard, strict=True))
    return array.metadata.encode_chunk_key(shard)


def describe(store: Path, key: str, array: zarr.Array, index: tuple[int, ...], why: str) -> str:
    """One line naming the store, the array, the chunk (index, pixels, file) and the damage."""
    axes = spatial_axes(array)
    own = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, array.chunks, strict=True))
    return (
        f"{store}: array {key!r}, chunk {tuple(index[a] for a in axes)} "
        f"({pixels(own, array.shape, axes)}, file {key}/{shard_file(array, index)}) is "
        f"damaged ({why}); {ADVICE}"
    )


def damaged_chunk(array: zarr.Array, window: Window) -> tuple[tuple[int, ...], str] | None:
    """The first chunk of ``window`` that fails to read, with why; None when all read."""
    for index, own in chunks_in(array, window):
        try:
            array[own]
        except Exception as error:  # codecs raise many types on bad bytes
            why = "checksum mismatch" if "checksum" in str(error) else reason(error)
            return index, why
    return None


def read(array: zarr.Array, store: Path, key: str, window: Window = ()) -> np.ndarray:
    """``array[window]``; a chunk that fails to decode raises one :class:`InputError` line."""
    try:
        return array[window] if window else array[...]
    except Exception as error:
        found = damaged_chunk(array, window)
        if found is None:
            raise
        raise InputError(describe(store, key, array, *found)) from error


def missing_shards(array: zarr.Array, folder: Path) -> list[str]:
    """Shard files (relative to the store's ``folder`` of this array) that are not on disk."""
    grid = tuple(-(-n // s) for n, s in zip(array.shape, array.shards or array.chunks, strict=True))
    return [
        key
        for index in itertools.product(*map(range, grid))
        if not (folder / (key := array.metadata.encode_chunk_key(index))).is_file()
    ]
