"""Separate: run the combined model over whole panels, zarr to zarr, in bounded memory.

The panel's stack (front RGB, back RGB, mixed X-ray: ``core.separator``) becomes dask arrays
over the panel store in blocks of ``separate.block`` pixels; ``core.inference.map_modules``
runs all of the model's outputs on every block with its halo, in one task per block, so the
result equals whole-image inference while memory stays bounded by the blocks in flight.
Results are stored block by block into ``data/separated/<panel>.zarr/<model-version>/``:
OME-Zarr images (``io.pyramid``) ``front_xray``, ``back_xray``, ``hidden`` (what the pair
leaves of the mixture: ``core.hidden``) and, for methods that have one, ``uncertainty`` (per
pixel, where not to trust the split: docs/methods.md, Uncertainty), each level ``0`` the full
resolution. The shards are the blocks, so no shard is rewritten or written by two threads at
once. Then the smaller levels
are made from level 0, and the panel's inputs are copied beside the results as images
``inputs/front``, ``inputs/back``, ``inputs/xray``, so that a viewer opens everything at any
zoom; the version group is built under a temporary name and renamed into place. On local
threads ``separate.workers`` blocks are computed at a time, each thread taking the next as
it finishes one, so memory stays flat whatever the panel's size; on a ``dask.distributed``
cluster given its address, all blocks of all panels go in one computation. People get PNG
previews under ``reports/<panel>/separated/`` (the uncertainty as a heat map) and, on
request, each result whole as a 16-bit TIFF there; ``xraysep export`` writes the pyramids
as OME-TIFFs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import dask.local
import mlflow
import numpy as np
import torch
import zarr

from xraysep import config
from xraysep.core import device as devices
from xraysep.core import hidden
from xraysep.core.inference import map_modules
from xraysep.errors import InputError
from xraysep.io import checkpoints, contents, images, locks, pyramid, store, tracking
from xraysep.io.atomic import atomic_dir
from xraysep.io.console import err, progress
from xraysep.io.figures import display, heat

PREVIEW_PIXELS = 2048  # a preview is the largest pyramid level at most this long a side


def model_version(path: Path) -> str:
    """A content address of the model file: results of different models never mix."""
    return f"combine-{images.sha256(path)[:12]}"


def ensure_results_store(path: Path) -> None:
    """Create the results store's root group, atomically, if it does not exist yet."""
    if not (path / "zarr.json").is_file():
        with atomic_dir(path) as temporary:
            zarr.open_group(temporary, mode="w-", zarr_format=3)


def outputs(model: checkpoints.Separator) -> dict[str, torch.nn.Module]:
    """What a separation writes: each side's X-ray, the hidden layer (``core.hidden``), and
    the uncertainty where there is one."""
    modules = contents.result_names(hidden.outputs(model))
    if (spread := model.spread()) is not None:
        modules["uncertainty"] = spread
    return modules


def output_modules(path: str, version: str, device: str) -> list[torch.nn.Module]:
    """The modules that make the outputs, in order; module-level so dask can ship it to
    workers."""
    return list(outputs(checkpoints.separator_on(path, version, device)).values())


def panel_parts(panel: store.Panel, block: int) -> list[da.Array]:
    """The panel's stack as dask arrays in ``block``² blocks, in stored dtypes: front and back
    photographs (H, W, 3) and the X-ray (H, W, 1), each block read through its checksums and
    range check (``store.Checked``)."""
    photographs = [
        da.from_array(panel.array(side), chunks=(block, block, 3), name=f"{panel.path}/{side}")
        for side in ("front", "back")
    ]
    xray = da.from_array(panel.array("xray"), chunks=(block, block), name=f"{panel.path}/xray")
    return [*photographs, xray[..., None]]


@dataclass
class Job:
    """One panel's separation: its inputs, model, and where the results go."""

    name: str
    panel: store.Panel
    model: Path
    version: str
    method: str
    halo: int
    outputs: tuple[str, ...]

    @property
    def where(self) -> config.Paths:
        return config.paths(self.name)


def prepare(name: str, model: Path | None) -> Job:
    """Check the panel and its model before any work starts."""
    where = config.paths(name)
    panel = store.open_panel(where.store, name)
    model_path = Path(model) if model else where.combine_model
    separator, _ = checkpoints.load_separator(model_path, f"run `xraysep combine {name}` first")
    return Job(
        name,
        panel,
        model_path,
        model_version(model_path),
        separator.method,
        separator.halo,
        tuple(outputs(separator)),
    )


@contextlib.contextmanager
def cpu_threads(workers: int, device: torch.device) -> Iterator[None]:
    """Share the CPU between dask's worker threads instead of oversubscribing it."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def block_stores(result: da.Array, targets: list[zarr.Array], block: int) -> list[list]:
    """Store graphs for the (H, W, K) ``result`` into its K ``targets``, one list per block
    (its K stores share the block's one task), largest blocks first, so the short blocks of
    the panel's right and bottom edges fill the last gaps instead of ending the run on one
    busy core."""

    def area(where: tuple[slice, slice]) -> int:
        rows, cols = where
        return (rows.stop - rows.start) * (cols.stop - cols.start)

    blocks = sorted(store.blocks(result.shape[:2], block), key=area, reverse=True)
    return [
        [
            da.store(
                result[rows, cols, index], target, regions=(rows, cols), lock=False, compute=False
            )
            for index, target in enumerate(targets)
        ]
        for rows, cols in blocks
    ]


def compute(blocks: list[list], scheduler: str | None, workers: int, device: torch.device) -> None:
    """Run the blocks' store graphs: all at once on the cluster at ``scheduler`` (its workers
    manage their memory), else on ``workers`` local threads, each taking the next block as
    it finishes one, so only ``workers`` blocks (with the neighbours' edges that give their
    halo) are in memory at once whatever the panel's size, and no thread waits on another's
    slower block. One computation over the whole panel let dask read input blocks far ahead
    of the network (100 megapixels peaked at 2.5 GB); batches of ``workers`` blocks each
    waited for their slowest."""
    if scheduler:
        from distributed import Client

        try:
            client = Client(scheduler, timeout="10s")
        except OSError as error:
            raise InputError(
                f"--scheduler {scheduler}: no dask scheduler answers ({error})"
            ) from error
        with client:
            dask.compute(*(store for stores in blocks for store in stores), scheduler=client)
        return
    with cpu_threads(workers, device), progress() as bar:
        task = bar.add_task("separate", total=len(blocks), status=f"{len(blocks)} blocks")

        def run(stores: list) -> None:
            # the synchronous scheduler as a function: named ("sync"), dask would first
            # import `distributed` to look for a client, seconds of a process's first call
            dask.compute(*stores, scheduler=dask.local.get_sync)
            bar.advance(task)

        pool = ThreadPoolExecutor(workers)
        try:
            for future in [pool.submit(run, stores) for stores in blocks]:
                future.result()
        finally:
            pool.shutdown(cancel_futures=True)  # a failed block stops the blocks not begun


def prepare_held(stack: contextlib.ExitStack, name: str, model: Path | None) -> Job:
    """:func:`prepare`, holding the panel store and the panel's own combined model against
    replacement and then the results store against other writers, until ``stack`` closes
    (``io.locks``; a model given with ``--model`` is the caller's to keep still)."""
    where = config.paths(name)
    stack.enter_context(locks.reading(where.store))
    if model is None:
        stack.enter_context(locks.reading(where.combine_model))
    job = prepare(name, model)
    stack.enter_context(locks.writing(where.separated_store))
    return job


def write_pyramids(job: Job, group: zarr.Group, levels: list[list[zarr.Array]]) -> None:
    """The levels below full resolution of each result, and the panel's front, back and
    X-ray as images under ``inputs/``, so a viewer shows them all aligned at any zoom."""
    began = time.perf_counter()
    for image in levels:
        pyramid.fill_levels(image)
    for key in contents.INPUTS:
        pyramid.write_image(group, key, job.panel.array(key.removeprefix("inputs/")))
    err.print(f"{job.name}: pyramids in {time.perf_counter() - began:.1f} s")


def separate(
    names: str | list[str],
    *,
    model: Path | None = None,
    device: str | None = None,
    scheduler: str | None = None,
    tiff: bool | None = None,
) -> list[Path]:
    """Separate each named panel with its combined model (or ``model`` for all), writing
    full-resolution TIFFs where ``tiff`` (default ``separate.tiff``) says so; returns the
    results groups' paths."""
    names = [names] if isinstance(names, str) else list(names)
    target = devices.resolve(device or config.settings().train.device)
    settings = config.settings().separate
    tile, workers, block = settings.tile, settings.workers, settings.block
    tiff = settings.tiff if tiff is None else tiff

    with contextlib.ExitStack() as stack:
        jobs = [prepare_held(stack, name, model) for name in names]
        blocks, groups, made = [], {}, {}
        for job in jobs:
            ensure_results_store(job.where.separated_store)
            temporary = stack.enter_context(atomic_dir(job.where.separated_store / job.version))
            group = zarr.open_group(
                temporary,
                mode="w-",  # the temporary is new and empty; "w" would delete and remake it
                zarr_format=3,
                attributes={
                    "model": str(job.model),
                    "model_version": job.version,
                    "method": job.method,
                    "panel": job.name,
                    "outputs": list(job.outputs),
                },
            )
            groups[job.name] = job.where.separated_store / job.version
            load = functools.partial(output_modules, str(job.model), job.version, str(target))
            result = map_modules(
                panel_parts(job.panel, block),
                load,
                len(job.outputs),
                halo=job.halo,
                tile=tile,
                device=target,
            )
            made[job.name] = (
                group,
                [
                    pyramid.create_image(group, output, job.panel.shape, np.float32, shard=block)
                    for output in job.outputs
                ],
            )
            targets = [image[0] for image in made[job.name][1]]
            blocks += block_stores(result, targets, block)
        began = time.perf_counter()
        with ThreadPoolExecutor(1) as beside:
            opened = beside.submit(tracking.open_store)  # seconds of SQLite, not of the blocks
            compute(blocks, scheduler, workers, target)
            opened.result()
        seconds = time.perf_counter() - began
        for job in jobs:
            write_pyramids(job, *made[job.name])
    megapixels = sum(job.panel.shape[0] * job.panel.shape[1] for job in jobs) / 1e6
    for job in jobs:
        report(job, groups[job.name], seconds, megapixels, tile, tiff)
    err.print(
        f"separated {len(jobs)} panel(s), {megapixels:.1f} megapixels in {seconds:.1f} s "
        f"({megapixels / seconds:.2f} MP/s)"
    )
    return [groups[job.name] for job in jobs]


def report(
    job: Job, results: Path, seconds: float, megapixels: float, tile: int, tiff: bool
) -> None:
    """Previews (and, if ``tiff``, full-resolution TIFFs) for people, and an MLflow
    ``separate`` run for the panel."""
    group = zarr.open_group(results, mode="r", zarr_format=3)
    shape = job.panel.shape
    compression = config.settings().report.compression
    with tracking.run(job.name, "separate", {"xraysep.model_version": job.version}):
        mlflow.log_params(
            {
                "model": str(job.model),
                "model_version": job.version,
                "method": job.method,
                "tile": tile,
            }
        )
        mlflow.log_metrics(
            {"separate_seconds": seconds, "megapixels_per_second": megapixels / seconds}
        )
        for output in job.outputs:
            stem = job.where.separated_reports / output
            levels = pyramid.levels(group, output)
            if tiff:
                images.write_tiff_tiles(stem.with_suffix(".tif"), levels[0])
            else:
                stem.with_suffix(".tif").unlink(missing_ok=True)  # an earlier run's, now stale
            render = heat if output == "uncertainty" else display
            shown = next(level for level in levels if max(level.shape) <= PREVIEW_PIXELS)
            images.write_png(stem.with_suffix(".png"), render(shown[:]), compression)
            mlflow.log_artifact(str(stem.with_suffix(".png")), "previews")
    err.print(f"{job.name}: {shape[1]}×{shape[0]} → {results}, {job.where.reports_dir}/")
