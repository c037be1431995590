"""Separate: run the combined model over a whole panel, zarr to zarr, in bounded memory.

The panel is processed one shard-sized block at a time (each block read tile by tile with a
halo of the model's receptive field), and each block is written whole into the results store
``data/separated/<panel>.zarr`` under group ``<model-version>/`` with arrays ``front_xray``
and ``back_xray`` and, for methods with more than one estimate of the split, ``uncertainty``:
per pixel, how far apart those estimates are (``core.separator``), i.e. where not to trust the
result. The version group is built under a temporary name and renamed into place. People get
16-bit TIFFs and PNG previews under ``reports/<panel>/`` (the uncertainty as a heat map).
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
from xraysep.core.separator import stack
from xraysep.io import checkpoints, images, store, tracking
from xraysep.io.atomic import atomic_dir
from xraysep.io.console import err, progress
from xraysep.io.figures import display, heat

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
    model, _ = checkpoints.load_separator(model_path, f"run `xraysep combine {name}` first")
    target = devices.resolve(device or config.params()["train"]["device"])
    tile = int(config.params()["separate"]["tile"])
    model.to(target)
    outputs = {f"{side}_xray": module for side, module in model.sides().items()}
    if (spread := model.spread()) is not None:
        outputs["uncertainty"] = spread
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
            attributes={
                "model": str(model_path),
                "model_version": version,
                "method": model.method,
                "panel": name,
            },
        )
        arrays = {key: store.create_image_array(group, key, shape, np.float32) for key in outputs}
        task = bar.add_task(f"separate {name}", total=len(blocks) * len(outputs), status=version)
        for region in blocks:
            for key, module in outputs.items():
                arrays[key][region] = predict_region(
                    module,
                    lambda ys, xs: stack(
                        panel.rgb("front", ys, xs), panel.rgb("back", ys, xs), panel.xray(ys, xs)
                    ),
                    shape,
                    region,
                    halo=model.halo,
                    tile=tile,
                    device=target,
                )
                bar.advance(task)
    seconds = time.perf_counter() - start

    group = zarr.open_group(where.separated_store / version, mode="r", zarr_format=3)
    step = max(1, max(shape) // PREVIEW_PIXELS)
    with tracking.run(name, "separate", {"xraysep.model_version": version}):
        mlflow.log_params(
            {
                "model": str(model_path),
                "model_version": version,
                "method": model.method,
                "tile": tile,
            }
        )
        mlflow.log_metrics(
            {
                "separate_seconds": seconds,
                "megapixels_per_second": shape[0] * shape[1] / 1e6 / seconds,
            }
        )
        for key in outputs:
            stem = where.reports_dir / key
            images.write_tiff_tiles(stem.with_suffix(".tif"), group[key])
            render = heat if key == "uncertainty" else display
            images.write_png(stem.with_suffix(".png"), render(group[key][::step, ::step]))
            mlflow.log_artifact(str(stem.with_suffix(".png")), "previews")
    err.print(
        f"separated {shape[1]}×{shape[0]} in {seconds:.1f} s → {where.separated_store / version}, "
        f"{where.reports_dir}/{{{','.join(outputs)}}}.{{tif,png}}"
    )
    return where.separated_store / version
