"""Images as sources of windows: what ingest reads, transforms and writes one block at a time.

A source has ``shape``, ``dtype`` and ``ndim`` and answers ``source[rows, cols]`` (two
slices) with that window's pixels as a NumPy array, channels last; ``store.write_arrays``
copies any source into zarr one shard at a time, so a gigapixel scan never sits in memory
whole. A NumPy array is a source too (PNG and JPEG files are decoded whole: their formats
cannot be read by window).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import zarr

from xraysep.core.registration.mapping import Affine
from xraysep.core.registration.resample import resample_region
from xraysep.errors import InputError, reason

Window = tuple[slice, slice]


class Source(Protocol):
    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def ndim(self) -> int: ...

    def __getitem__(self, window: Window) -> np.ndarray: ...


@dataclass(frozen=True)
class Tiff:
    """The image of a TIFF file read by window through tifffile's zarr interface, channels
    last whatever the file's order (``axes``: tifffile's letters for the array's axes; axes
    other than Y, X and S hold one image). A window that does not decode, that tifffile
    complains about (``complaints`` fills while the file is open), or whose float values
    are NaN or infinite raises one :class:`InputError` line naming the file."""

    path: Path
    array: zarr.Array
    axes: str
    complaints: list[str]

    @property
    def shape(self) -> tuple[int, ...]:
        sizes = dict(zip(self.axes, self.array.shape, strict=True))
        return tuple(sizes[axis] for axis in "YXS" if sizes.get(axis, 1) > 1 or axis != "S")

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, window: Window) -> np.ndarray:
        rows, cols = window
        parts = {"Y": rows, "X": cols}
        if len(self.shape) == 3:
            parts["S"] = slice(None)
        index = tuple(parts.get(axis, 0) for axis in self.axes)
        try:
            block = np.asarray(self.array[index])
        except Exception as error:  # decoders raise many types for damaged tiles
            raise InputError(f"{self.path}: cannot decode image ({reason(error)})") from error
        if self.complaints:
            raise InputError(
                f"{self.path}: damaged TIFF, refused rather than read with gaps "
                f"({self.complaints[0]})"
            )
        kept = [axis for axis in self.axes if axis in parts]
        if kept[0] == "S":  # planar: (C, H, W) in the file
            block = np.moveaxis(block, 0, -1)
        if np.issubdtype(block.dtype, np.floating) and not np.isfinite(block).all():
            raise InputError(f"{self.path}: contains NaN or infinite values")
        return block


@dataclass(frozen=True)
class Mirrored:
    """``source`` with its columns in reverse order: the back photographed from behind, in
    the X-ray's frame."""

    source: Source

    @property
    def shape(self) -> tuple[int, ...]:
        return self.source.shape

    @property
    def dtype(self) -> np.dtype:
        return self.source.dtype

    @property
    def ndim(self) -> int:
        return self.source.ndim

    def __getitem__(self, window: Window) -> np.ndarray:
        rows, cols = window
        width = self.source.shape[1]
        start, stop, _ = cols.indices(width)
        return self.source[rows, slice(width - stop, width - start)][:, ::-1]


@dataclass(frozen=True)
class Mapped:
    """``function`` of each window of ``source``: a pixel-wise conversion into ``dtype``."""

    source: Source
    function: Callable[[np.ndarray], np.ndarray]
    dtype: np.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.source.shape

    @property
    def ndim(self) -> int:
        return self.source.ndim

    def __getitem__(self, window: Window) -> np.ndarray:
        return self.function(self.source[window])


@dataclass(frozen=True)
class Resampled:
    """The RGB ``photo`` resampled through ``mapping`` (output pixels to photograph pixels)
    onto a grid of ``size`` = (H, W), window by window, each in pieces of at most
    ``block``² pixels (the interpolation's float copies stay that small)."""

    photo: Source
    mapping: Affine
    size: tuple[int, int]
    order: int
    block: int

    @property
    def shape(self) -> tuple[int, ...]:
        return (*self.size, self.photo.shape[2])

    @property
    def dtype(self) -> np.dtype:
        return self.photo.dtype

    @property
    def ndim(self) -> int:
        return 3

    def __getitem__(self, window: Window) -> np.ndarray:
        rows, cols = (part.indices(n)[:2] for part, n in zip(window, self.size, strict=True))
        return resample_region(self.photo, self.mapping, rows, cols, self.order, self.block)
