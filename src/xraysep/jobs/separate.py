"""Separate: run the combined model over a whole panel, zarr to zarr, in bounded memory.

The panel is processed one shard-sized block at a time (each block read tile by tile with a
halo of the receptive-field radius), and each block is written whole into the results store
``data/separated/<panel>.zarr`` under group ``<model-version>/`` with arrays ``front_xray``
and ``back_xray``. The version group is built under a temporary name and renamed into place.
People get 16-bit TIFFs and PNG previews under ``reports/<panel>/``.
"""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import numpy as np
import zarr

from xraysep import config
from xraysep.core import device as devices
from xraysep.core.inference import predict_region
from xraysep.io import checkpoints, images, store, tracking
from xraysep.io.atomic import atomic_dir
from xraysep.io.console import err, progress
from xraysep.io.figures import display

PREVIEW_PIXELS = 2048


def model_version(path: Path) -> str:
    """A content address of the model file: results of different models never mix."""
    return f"combine-{images.sha256(path)[:12]}"


def ensure_results_store(path: Path) -> None:
    """Create the results store's root group, atomically, if it does not exist yet."""
    if not (path / "zarr.json").is_file():
        with atomic_dir(path) as temporary:
            zarr.open_group(temporary, mode="w", zarr_format=3)


def separate(name: str, *, model: Path | None = None, device: str | None = None) -> Path:
    """Separate panel ``name`` with the combined model; returns the results group's path."""
    where = config.paths(name)
    model_path = Path(model) if model else where.combine_model
    panel = store.open_panel(where.store, name)
    combined, _ = checkpoints.load_combined(model_path, f"run `xraysep combine {name}` first")
    target = devices.resolve(device or config.params()["train"]["device"])
    tile = int(config.params()["separate"]["tile"])
    combined.to(target)
    sides = combined.sides("combined")
    version = model_version(model_path)
    shape = panel.shape
    ensure_results_store(where.separated_store)
    blocks = list(store.blocks(shape))

    start = time.perf_counter()
    with atomic_dir(where.separated_store / version) as temporary, progress() as bar:
        group = zarr.open_group(
            temporary,
            mode="w",
            zarr_format=3,
            attributes={"model": str(model_path), "model_version": version, "panel": name},
        )
        outputs = {
            side: store.create_image_array(group, f"{side}_xray", shape, np.float32)
            for side in sides
        }
        task = bar.add_task(f"separate {name}", total=len(blocks) * len(sides), status=version)
        for region in blocks:
            for side, branch in sides.items():
                outputs[side][region] = predict_region(
                    branch,
                    lambda ys, xs, side=side: panel.rgb(side, ys, xs),
                    shape,
                    region,
                    halo=combined.config.radius,
                    tile=tile,
                    device=target,
                )
                bar.advance(task)
    seconds = time.perf_counter() - start

    group = zarr.open_group(where.separated_store / version, mode="r", zarr_format=3)
    step = max(1, max(shape) // PREVIEW_PIXELS)
    with tracking.run(name, "separate", {"xraysep.model_version": version}):
        mlflow.log_params({"model": str(model_path), "model_version": version, "tile": tile})
        mlflow.log_metrics(
            {
                "separate_seconds": seconds,
                "megapixels_per_second": shape[0] * shape[1] / 1e6 / seconds,
            }
        )
        for side in sides:
            stem = where.reports_dir / f"{side}_xray"
            images.write_tiff_tiles(stem.with_suffix(".tif"), group[f"{side}_xray"])
            preview = display(group[f"{side}_xray"][::step, ::step])
            images.write_png(stem.with_suffix(".png"), preview)
            mlflow.log_artifact(str(stem.with_suffix(".png")), "previews")
    err.print(
        f"separated {shape[1]}×{shape[0]} in {seconds:.1f} s → {where.separated_store / version}, "
        f"{where.reports_dir}/{{front,back}}_xray.{{tif,png}}"
    )
    return where.separated_store / version
