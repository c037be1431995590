"""Report: a panel's page, ``reports/<panel>/index.html``, to look at its results
(docs/design.md, The page).

The page shows the two photographs, the mixed X-ray, the separated sides, the hidden layer
where the results have one and the uncertainty map side by side, zoomed and panned together,
with the metrics of ``metrics.json`` where evaluate has written it. Its pictures are 8-bit PNG
tiles ``tiles/<image>/<level>/<row>_<col>.png`` (``report.tile`` pixels on a side, smaller at
the right and bottom edges) made from every level of the OME-Zarr images of the panel's
latest results (``jobs.export.results_group``), read one block of tiles at a time through
their checksums, so memory is bounded whatever the panel's size; the levels below the smallest
stored one (at most 512² pixels) are halved in memory until one tile holds the whole image.
The X-rays share one display range, so the sides compare with each other and with the
mixture; the hidden layer has a grey range of its own and the uncertainty is a heat map of
its own range. The page is one file, its viewer
inlined (``report_page.html``, ``report_viewer.js``), and loads its tiles by relative path,
so it works opened from disk. The tiles' folder, then the page, are each written under a
temporary name and renamed into place.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import matplotlib
import numpy as np
import zarr
from PIL import Image

from xraysep import config
from xraysep.core.metrics import HEADERS
from xraysep.core.pyramid import halve, level_sizes
from xraysep.errors import InputError
from xraysep.io import contents, images, locks, pyramid, store
from xraysep.io.atomic import atomic_dir, atomic_file
from xraysep.io.console import err, progress
from xraysep.jobs.export import results_group

BLOCK = 2048  # pixels read at once, rounded down to whole tiles: four 512² chunks a side
MAGMA = matplotlib.colormaps["magma"](np.linspace(0.0, 1.0, 256), bytes=True)[:, :3]
INPUT_PANES = (  # results key, tiles folder, title, how it is shown
    ("inputs/front", "front", "front photograph", "rgb"),
    ("inputs/back", "back", "back photograph (mirrored)", "rgb"),
    ("inputs/xray", "xray", "mixed X-ray", "grey"),
)
OUTPUT_TITLES = {
    "front_xray": "front X-ray (separated)",
    "back_xray": "back X-ray (separated)",
    "hidden": "hidden layer",
    "uncertainty": "uncertainty",
}
OUTPUT_KINDS = {"hidden": "own", "uncertainty": "heat"}  # the others share the X-rays' range


@dataclass(frozen=True)
class Pane:
    """One image of the page: its levels as stored (full resolution first) and how its values
    become 8-bit pixels (``rgb``: the photograph's type range; ``grey`` and ``own``: ``low``
    to ``high``; ``heat``: magma from ``low`` to ``high``)."""

    name: str
    title: str
    kind: str
    stored: list[store.Checked]
    low: float = 0.0
    high: float = 1.0

    def render(self, values: np.ndarray) -> np.ndarray:
        """8-bit (h, w) grey or (h, w, 3) RGB pixels of stored ``values`` ((3, h, w) for RGB)."""
        if self.kind == "rgb":
            rgb = np.moveaxis(values, 0, -1)
            if values.dtype == np.uint8:
                return rgb
            scale = np.float32(255.0 / np.iinfo(values.dtype).max)
            return np.rint(rgb.astype(np.float32) * scale).astype(np.uint8)
        scaled = images.to_uint8((values - self.low) / (self.high - self.low))
        return MAGMA[scaled] if self.kind == "heat" else scaled


def panes_of(path: Path, group: zarr.Group) -> list[Pane]:
    """The page's images, in order: photographs, mixed X-ray, then the results group's
    outputs (sides, hidden, uncertainty last), each with its display range."""
    keys = list(group.attrs.get("outputs", contents.REQUIRED_RESULTS))
    keys.sort(key=lambda key: key == "uncertainty")
    found = [
        *INPUT_PANES,
        *((key, key, OUTPUT_TITLES.get(key, key), OUTPUT_KINDS.get(key, "grey")) for key in keys),
    ]
    specs = contents.RESULTS | contents.INPUTS
    panes, size = [], None
    for key, name, title, kind in found:
        levels = pyramid.open_image(path, group, key, specs[key], size)
        stored = [store.Checked(array, path, at, specs[key]) for at, array in levels.items()]
        size = stored[0].shape[-2:]  # every image has the panel's
        panes.append(Pane(name, title, kind, stored))
    return with_ranges(panes)


def with_ranges(panes: list[Pane]) -> list[Pane]:
    """``panes`` with their display ranges, from their smallest stored level: the X-rays share
    the widest of their 1–99 % ranges; the hidden layer, far fainter, has its own; the
    uncertainty runs from 0 to its 99th percentile."""
    smallest = {pane.name: pane.stored[-1][...] for pane in panes if pane.kind != "rgb"}
    greys = [smallest[pane.name] for pane in panes if pane.kind == "grey"]
    low = min(float(np.percentile(values, 1)) for values in greys)
    high = max(float(np.percentile(values, 99)) for values in greys)
    ranged = []
    for pane in panes:
        if pane.kind == "grey":
            pane = replace(pane, low=low, high=max(high, low + 1e-6))
        elif pane.kind == "own":
            own_low, own_high = np.percentile(smallest[pane.name], (1, 99))
            pane = replace(pane, low=float(own_low), high=max(float(own_high), own_low + 1e-6))
        elif pane.kind == "heat":
            top = float(np.percentile(smallest[pane.name], 99))
            pane = replace(pane, low=0.0, high=top if top > 0 else 1.0)
        ranged.append(pane)
    return ranged


def tiles_of(
    pane: Pane, level: int, values: np.ndarray, ys: slice, xs: slice, tile: int
) -> Iterator[tuple[str, np.ndarray]]:
    """The tiles (``<level>/<row>_<col>``, 8-bit pixels) in the block ``ys, xs`` of a level,
    whose stored ``values`` are given; the block starts on a tile's corner."""
    pixels = pane.render(values)
    for top in range(0, pixels.shape[0], tile):
        for left in range(0, pixels.shape[1], tile):
            row, col = (ys.start + top) // tile, (xs.start + left) // tile
            yield f"{level}/{row}_{col}", pixels[top : top + tile, left : left + tile]


def write_png(path: Path, pixels: np.ndarray, compression: int) -> None:
    """Write one tile, in place: the folder of all tiles is the temporary (:func:`report`)."""
    Image.fromarray(pixels).save(path, format="PNG", compress_level=compression)


def write_block(
    folder: Path, pane: Pane, level: int, ys: slice, xs: slice, tile: int, compression: int
) -> int:
    """Read one block of a stored level and write its tiles; returns how many."""
    written = 0
    for name, pixels in tiles_of(pane, level, pane.stored[level][..., ys, xs], ys, xs, tile):
        write_png(folder / pane.name / f"{name}.png", pixels, compression)
        written += 1
    return written


def write_tiles(folder: Path, panes: list[Pane], size: tuple[int, int]) -> int:
    """Every tile of every pane's levels into ``folder``; returns how many. The stored
    levels go block by block to ``report.workers`` threads; the smaller levels are halved
    from the smallest stored one in memory."""
    settings = config.settings().report
    tile, compression = settings.tile, settings.compression
    sizes = level_sizes(size, tile)
    block = tile * max(1, BLOCK // tile)
    total = len(panes) * sum(math.ceil(h / tile) * math.ceil(w / tile) for h, w in sizes)
    for pane in panes:
        for level in range(len(sizes)):
            (folder / pane.name / str(level)).mkdir(parents=True)
    with progress() as bar, ThreadPoolExecutor(settings.workers) as pool:
        task = bar.add_task("report", total=total, status=f"{len(panes)} images, tiles {tile}²")
        futures = [
            pool.submit(write_block, folder, pane, level, ys, xs, tile, compression)
            for pane in panes
            for level in range(min(len(sizes), len(pane.stored)))
            for ys, xs in store.blocks(sizes[level], block)
        ]
        try:
            for future in as_completed(futures):
                bar.advance(task, future.result())
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
        for pane in panes:
            stored = len(pane.stored)
            values = pane.stored[-1][...] if stored < len(sizes) else None
            for level in range(stored, len(sizes)):
                values = halve(values)
                whole = (slice(0, sizes[level][0]), slice(0, sizes[level][1]))
                for name, pixels in tiles_of(pane, level, values, *whole, tile):
                    write_png(folder / pane.name / f"{name}.png", pixels, compression)
                    bar.advance(task)
    return total


def read_metrics(path: Path) -> dict[str, dict[str, float | None]] | None:
    """``metrics.json`` (approach -> metric -> value, non-finite values as None), or None
    where evaluate has not written it; a file that is not such JSON is one line."""
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text())
        return {
            str(approach): {
                str(key): (float(value) if math.isfinite(value) else None)
                for key, value in row.items()
            }
            for approach, row in metrics.items()
        }
    except (ValueError, TypeError, AttributeError) as error:
        raise InputError(
            f"{path}: not the metrics evaluate writes ({error}); run `xraysep evaluate` again"
        ) from None


def page_html(name: str, group: zarr.Group, panes: list[Pane], size: tuple[int, int]) -> str:
    """The page: its template with the viewer and the page's data inlined."""
    tile = config.settings().report.tile
    metrics = read_metrics(config.paths(name).metrics)
    keys = {key for row in (metrics or {}).values() for key in row}
    columns = [key for key in HEADERS if key in keys] + sorted(keys - set(HEADERS))
    data = {
        "panel": name,
        "shape": list(size),
        "method": group.attrs.get("method"),
        "model_version": group.attrs.get("model_version"),
        "made": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "tile": tile,
        "levels": [list(level) for level in level_sizes(size, tile)],
        "panes": [
            {"name": p.name, "title": p.title, "kind": p.kind, "range": [p.low, p.high]}
            for p in panes
        ],
        "columns": [[key, HEADERS.get(key, key.replace("_", " "))] for key in columns],
        "metrics": metrics,
    }
    files = resources.files("xraysep.jobs")
    template = files.joinpath("report_page.html").read_text(encoding="utf-8")
    viewer = files.joinpath("report_viewer.js").read_text(encoding="utf-8")
    embedded = json.dumps(data, indent=1).replace("</", "<\\/")  # cannot close the script
    return (  # the data last: nothing in it is taken for a placeholder
        template.replace("{{viewer}}", viewer)
        .replace("{{title}}", html.escape(f"xraysep: {name}"))
        .replace("{{data}}", embedded)
    )


def report(name: str) -> Path:
    """Write the page of panel ``name`` and its tiles from its latest results; returns the
    page's path. The results store is held against replacement meanwhile, and the page
    against another writer (``io.locks``)."""
    where = config.paths(name)
    page = where.reports_dir / "index.html"
    with locks.reading(where.separated_store):
        path = results_group(where, None)  # first: a refused page leaves no folder behind
        group = zarr.open_group(path, mode="r", zarr_format=3)
        panes = panes_of(path, group)
        size = tuple(panes[0].stored[0].shape[-2:])
        html = page_html(name, group, panes, size)
        with locks.writing(page):
            with atomic_dir(where.reports_dir / "tiles") as folder:
                count = write_tiles(folder, panes, size)
            with atomic_file(page) as temporary:
                temporary.write_text(html, encoding="utf-8")
    err.print(f"{name}: page with {len(panes)} images, {count} tiles from {path.name} → {page}")
    return page
