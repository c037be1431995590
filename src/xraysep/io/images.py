"""The one module that opens image files: TIFF (also BigTIFF), PNG and JPEG.

Reading checks what the rest of the code relies on: that the file is a decodable image, that
an RGB image has three channels and a grey one none, that float data are finite, and (from
the file's header, before any pixel is decoded) that the image is within the size limit.
TIFF and PNG keep their full depth (16-bit colour too); a TIFF that the decoder complains
about while reading (missing strips, bad offsets) is refused rather than read with holes.
Every failure is an :class:`InputError` naming the file. Writing produces the files people
look at: 16-bit TIFF for analysis and 8-bit PNG previews, both written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import tifffile
import zarr
from PIL import Image

from xraysep.errors import InputError, reason
from xraysep.io import sources
from xraysep.io.atomic import atomic_file
from xraysep.io.sources import Source

Kind = Literal["rgb", "grey"]
TIFF_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8"}
PIL_SUFFIXES = {".png", ".jpg", ".jpeg"}

Image.MAX_IMAGE_PIXELS = None  # size is limited by our own max_megapixels check instead


def sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class _Complaints(logging.Handler):
    """Collects what a decoder logs instead of raising (it then goes on with holes)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0])


@contextlib.contextmanager
def _tiff_complaints() -> Iterator[list[str]]:
    logger = logging.getLogger("tifffile")
    handler, propagate = _Complaints(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # not on the terminal: they become the error message
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _check_size(path: Path, height: int, width: int, max_megapixels: float | None) -> None:
    if max_megapixels is not None and height * width > max_megapixels * 1e6:
        raise InputError(
            f"{path}: {height * width / 1e6:.1f} megapixels ({width}×{height}) exceeds the "
            f"limit of {max_megapixels:g} (ingest.max_megapixels in params.yaml)"
        )


@contextlib.contextmanager
def _open_tiff(path: Path, max_megapixels: float | None) -> Iterator[sources.Tiff]:
    """The TIFF's image as a window source over tifffile's zarr interface, after checking
    its header; the file is closed on exit."""
    with _tiff_complaints() as complaints, tifffile.TiffFile(path) as tif:
        series = tif.series[0] if tif.series else None
        if series is None or "Y" not in series.axes or "X" not in series.axes:
            because = f" ({complaints[0]})" if complaints else ""
            raise InputError(f"{path}: holds no image; the file is damaged or truncated{because}")
        sizes = dict(zip(series.axes, series.shape, strict=True))
        stacked = {axis: n for axis, n in sizes.items() if axis not in "YXS" and n > 1}
        if stacked:
            raise InputError(
                f"{path}: holds {math.prod(stacked.values())} images (axes {series.axes}); "
                "expected a single image"
            )
        _check_size(path, sizes["Y"], sizes["X"], max_megapixels)
        with series.aszarr() as zarr_store:
            array = zarr.open_array(zarr_store, mode="r")
            yield sources.Tiff(path, array, series.axes, complaints)


def _png_bit_depth(path: Path) -> int:
    """Bits per sample of a PNG: byte 24, in its header chunk, which the format puts first."""
    with path.open("rb") as file:
        return file.read(25)[24]


def _decode_pil(path: Path, max_megapixels: float | None) -> np.ndarray:
    with Image.open(path) as image:  # reads the header only
        _check_size(path, image.height, image.width, max_megapixels)
        if image.format == "PNG" and _png_bit_depth(path) != 8:
            import imagecodecs  # here, not for every image: a 28 MB wheel that 8 bits need not

            return imagecodecs.png_decode(path.read_bytes())  # Pillow cuts 16-bit colour
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        return np.asarray(image)


def _check_layout(shape: tuple[int, ...], kind: Kind, path: Path) -> None:
    """Refuse the wrong number of channels with the count found."""
    if kind == "rgb":
        if len(shape) == 2:
            raise InputError(f"{path}: is a grey image; expected an RGB photograph")
        if len(shape) != 3 or shape[-1] != 3:
            found = "RGBA" if len(shape) == 3 and shape[-1] == 4 else f"shape {shape}"
            raise InputError(f"{path}: has {found}; expected an RGB image with 3 channels")
    elif len(shape) != 2:
        raise InputError(f"{path}: has shape {shape}; expected a grey X-ray (one channel)")


def _check_type(dtype: np.dtype, path: Path) -> None:
    if dtype == np.bool_ or not (
        np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)
    ):
        raise InputError(f"{path}: unsupported pixel type {dtype}")


@contextlib.contextmanager
def open_image(path: Path, kind: Kind, max_megapixels: float | None = None) -> Iterator[Source]:
    """The image at ``path`` as a window source (``io.sources``): RGB (H, W, 3) or grey
    (H, W) in its stored type. A TIFF is read window by window while the context is open
    (a gigapixel scan never sits in memory whole); PNG and JPEG are decoded whole. Every
    refusal, here or at a window's read, is one :class:`InputError` line naming the file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected an image file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix not in TIFF_SUFFIXES | PIL_SUFFIXES:
        raise InputError(f"{path}: unsupported file type {suffix!r}; use TIFF, PNG or JPEG")
    with contextlib.ExitStack() as stack:
        try:
            if suffix in TIFF_SUFFIXES:
                image: Source = stack.enter_context(_open_tiff(path, max_megapixels))
            else:
                image = _decode_pil(path, max_megapixels)
        except InputError:
            raise
        except Exception as error:  # decoders raise many types for corrupt or truncated files
            raise InputError(f"{path}: cannot decode image ({reason(error)})") from error
        if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        _check_layout(image.shape, kind, path)
        _check_type(image.dtype, path)
        floating = np.issubdtype(image.dtype, np.floating)
        if isinstance(image, np.ndarray) and floating and not np.isfinite(image).all():
            raise InputError(f"{path}: contains NaN or infinite values")
        yield image


def read_image(path: Path, kind: Kind, max_megapixels: float | None = None) -> np.ndarray:
    """Decode ``path`` whole as an RGB (H, W, 3) or grey (H, W) array in its stored dtype."""
    with open_image(path, kind, max_megapixels) as image:
        return np.asarray(image[:, :])


def to_uint16(array: np.ndarray) -> np.ndarray:
    """[0, 1] floats to the full 16-bit range, clipping what lies outside."""
    return np.round(np.clip(array, 0.0, 1.0) * 65535.0).astype(np.uint16)


def to_uint8(array: np.ndarray) -> np.ndarray:
    return np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_tiff(path: Path, array: np.ndarray) -> None:
    """Write an array as-is (any dtype tifffile supports), BigTIFF when large, atomically."""
    with atomic_file(path) as temporary:
        tifffile.imwrite(
            temporary,
            array,
            bigtiff=array.nbytes > 2**31,
            photometric="rgb" if array.ndim == 3 else "minisblack",
            compression="zlib",
        )


def write_png(path: Path, array: np.ndarray, compression: int = 6) -> None:
    """Write a uint8 or uint16 image as PNG at zlib level ``compression`` (0-9: 1 writes
    fastest, 9 smallest), atomically."""
    with atomic_file(path) as temporary:
        Image.fromarray(array).save(temporary, format="PNG", compress_level=compression)


def write_jpeg(path: Path, array: np.ndarray, quality: int) -> None:
    """Write a uint8 RGB image as baseline JPEG at ``quality`` (1-100), atomically."""
    with atomic_file(path) as temporary:
        Image.fromarray(array).save(temporary, format="JPEG", quality=quality)


def write_tiff_tiles(path: Path, array, tile: int = 512) -> None:
    """Stream a large 2-D array-like (e.g. zarr) into a tiled 16-bit TIFF, tile by tile, so
    memory stays bounded by one row of tiles; values in [0, 1] map to the full 16-bit range."""
    h, w = array.shape

    def tiles():
        for y in range(0, h, tile):
            band = array[y : y + tile]
            for x in range(0, w, tile):
                block = np.zeros((tile, tile), dtype=np.uint16)
                part = to_uint16(band[:, x : x + tile])
                block[: part.shape[0], : part.shape[1]] = part
                yield block

    with atomic_file(path) as temporary:
        tifffile.imwrite(
            temporary,
            tiles(),
            shape=(h, w),
            dtype=np.uint16,
            tile=(tile, tile),
            bigtiff=h * w * 2 > 2**31,
            photometric="minisblack",
            compression="zlib",
        )


def _level_tiles(level, tile: int) -> Iterator[np.ndarray]:
    """A (H, W) or (C, H, W) level as (tile, tile[, C]) tiles in row-major order, edge tiles
    padded with zeros; one band of ``tile`` rows is read at a time."""
    height, width = level.shape[-2:]
    for y in range(0, height, tile):
        band = level[..., y : y + tile, :]
        band = np.moveaxis(band, 0, -1) if band.ndim == 3 else band
        for x in range(0, width, tile):
            block = np.zeros((tile, tile, *band.shape[2:]), dtype=band.dtype)
            part = band[:, x : x + tile]
            block[: part.shape[0], : part.shape[1]] = part
            yield block


def write_ome_tiff(path: Path, levels: list, name: str, tile: int = 512) -> None:
    """Write an image's levels (array-likes, full resolution first, (H, W) or RGB (3, H, W))
    as one tiled, pyramidal OME-TIFF at ``path``, atomically: level 0 in the main image, the
    others as its SubIFDs, the tools conservators use read the level they show. Values are
    written as stored (float32 results, RGB at their depth); memory is bounded by one band
    of tiles of the full resolution."""
    first = levels[0]
    rgb = len(first.shape) == 3
    nbytes = sum(math.prod(level.shape) for level in levels) * np.dtype(first.dtype).itemsize
    options = {
        "dtype": first.dtype,
        "tile": (tile, tile),
        "photometric": "rgb" if rgb else "minisblack",
        "planarconfig": "contig" if rgb else None,
        "compression": "zlib",
    }
    with (
        atomic_file(path) as temporary,
        tifffile.TiffWriter(temporary, bigtiff=nbytes > 2**31, ome=True) as tiff,
    ):
        for index, level in enumerate(levels):
            shape = (*level.shape[-2:], *level.shape[:-2])
            axes = {"axes": "YXS" if rgb else "YX", "Name": name}
            place = (
                {"subifds": len(levels) - 1, "metadata": axes}
                if index == 0
                else {"subfiletype": 1, "metadata": None}
            )
            tiff.write(_level_tiles(level, tile), shape=shape, **options, **place)
