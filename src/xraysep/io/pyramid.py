"""OME-Zarr (NGFF 0.5) multiscale images, written and read level by level in bounded memory.

An image is a zarr v3 group whose ``ome`` attribute describes its levels (``multiscales``:
axes ``y, x``, or ``c, y, x`` for a photograph, each level's scale), with one array per level
named ``0`` (full resolution), ``1``, …, each half the size of the one above
(``core.pyramid``), so napari's OME-Zarr plugin and web viewers read only the level they show
(docs/design.md, The results store). Every level is written with the project's array helper
(``io.store.create_image_array``), so its chunks and shard indexes carry checksums like any
other array. Levels are made one shard at a time from a window of the level above: memory is
bounded by that window, whatever the image's size.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from xraysep.core.pyramid import halve, level_sizes
from xraysep.errors import InputError
from xraysep.io import contents, store

NGFF = "0.5"
LEVEL_SHARD = 2048  # a level's shard, made from a 4096² window of the level above
RGB = ({"label": "red", "color": "FF0000"}, {"label": "green", "color": "00FF00"},
       {"label": "blue", "color": "0000FF"})  # fmt: skip


def metadata(name: str, levels: int, channels: int | None, dtype: np.dtype) -> dict[str, Any]:
    """The ``ome`` attribute of an image of ``levels`` levels: axes, and each level's scale
    in full-resolution pixels; a photograph's channels are shown as red, green and blue."""
    space = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    axes = ([{"name": "c", "type": "channel"}] if channels else []) + space
    datasets = [
        {
            "path": str(level),
            "coordinateTransformations": [
                {"type": "scale", "scale": [1.0] * (len(axes) - 2) + [2.0**level] * 2}
            ],
        }
        for level in range(levels)
    ]
    description = "mean over 2×2 blocks of the level above (xraysep.core.pyramid.halve)"
    multiscale = {
        "name": name,
        "axes": axes,
        "datasets": datasets,
        "type": "mean",
        "metadata": {"description": description},
    }
    ome: dict[str, Any] = {"version": NGFF, "multiscales": [multiscale]}
    if channels == len(RGB):
        top = float(np.iinfo(dtype).max)
        window = {"start": 0.0, "end": top, "min": 0.0, "max": top}
        ome["omero"] = {
            "channels": [channel | {"window": window, "active": True} for channel in RGB],
            "rdefs": {"model": "color"},
        }
    return ome


def create_image(
    parent: zarr.Group,
    name: str,
    size: tuple[int, int],
    dtype: Any,
    channels: int | None = None,
    shard: int = store.SHARD,
) -> list[zarr.Array]:
    """The empty levels of image ``name`` of (H, W) ``size`` in ``parent``, full resolution
    first (its shards ``shard`` pixels on a side), with the image's OME-Zarr metadata."""
    sizes = level_sizes(size)
    attributes = {"ome": metadata(name, len(sizes), channels, np.dtype(dtype))}
    group = parent.create_group(name, attributes=attributes)
    lead = (channels,) if channels else ()
    return [
        store.create_image_array(
            group,
            str(level),
            (*lead, *level_size),
            dtype,
            shard if level == 0 else LEVEL_SHARD,
            channels_first=True,
        )
        for level, level_size in enumerate(sizes)
    ]


def fill_levels(levels: list[zarr.Array]) -> None:
    """Make every level after the first from the one above, one shard at a time."""
    for above, level in itertools.pairwise(levels):
        for ys, xs in store.blocks(level.shape[-2:], LEVEL_SHARD):
            window = (..., slice(2 * ys.start, 2 * ys.stop), slice(2 * xs.start, 2 * xs.stop))
            level[..., ys, xs] = halve(above[window])


def write_image(parent: zarr.Group, name: str, source: store.Checked) -> None:
    """Image ``name`` from a panel's (H, W[, C]) array, copied one shard at a time (its reads
    checked: ``store.Checked``) into (C, H, W) order, with all its levels."""
    channels = source.shape[2] if source.ndim == 3 else None
    levels = create_image(parent, name, source.shape[:2], source.dtype, channels)
    for ys, xs in store.blocks(source.shape[:2]):
        block = source[ys, xs]
        levels[0][..., ys, xs] = np.moveaxis(block, -1, 0) if channels else block
    fill_levels(levels)


def levels(group: zarr.Group, name: str) -> list[zarr.Array]:
    """The level arrays of image ``name`` in ``group``, full resolution first, as its
    OME-Zarr metadata lists them."""
    multiscale = group[name].attrs["ome"]["multiscales"][0]
    return [group[f"{name}/{dataset['path']}"] for dataset in multiscale["datasets"]]


def open_image(
    store_path: Path,
    group: zarr.Group,
    key: str,
    spec: contents.Spec,
    size: tuple[int, int] | None = None,
) -> dict[str, zarr.Array]:
    """The levels of the OME-Zarr image ``key`` in the results ``group`` at ``store_path``, by
    path (``front_xray/0``: array), after checking that its metadata lists the levels that an
    image of (H, W) ``size`` (default: its level 0's) has, each at its scale, shape and type;
    anything else raises one :class:`InputError` line naming the store and the image."""
    where = f"{store_path}: image {key!r}"
    if key not in group:
        raise InputError(f"{where} is missing; run `xraysep separate` again to write it")
    if isinstance(group[key], zarr.Array):
        raise InputError(f"{where} is an array written before pyramids; run separate again")
    try:
        arrays = levels(group, key)
        datasets = group[key].attrs["ome"]["multiscales"][0]["datasets"]
        scales = [dataset["coordinateTransformations"][0]["scale"][-2:] for dataset in datasets]
    except (KeyError, IndexError, TypeError) as error:
        raise InputError(f"{where} has no readable OME-Zarr metadata ({error!r})") from error
    sizes = level_sizes(size or tuple(arrays[0].shape[-2:]))
    if len(arrays) != len(sizes):
        raise InputError(
            f"{where} lists {len(arrays)} levels; a {sizes[0][0]}×{sizes[0][1]} image has "
            f"{len(sizes)}"
        )
    for level, (array, scale, level_size) in enumerate(zip(arrays, scales, sizes, strict=True)):
        if scale != [2.0**level] * 2:
            raise InputError(
                f"{where}: level {level} has scale {scale}; expected {[2.0**level] * 2}"
            )
        path = f"{key}/{level}"
        contents.check_array(store_path, path, array, spec, level_size, channels_first=True)
    return {f"{key}/{level}": array for level, array in enumerate(arrays)}
