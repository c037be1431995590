"""Export: a panel's separated results as files for the imaging tools conservators use.

``--format ome-tiff`` writes every image of one results group (``front_xray``, ``back_xray``,
``uncertainty`` where there is one, and the panel's inputs ``inputs/front``, ``inputs/back``,
``inputs/xray``) as one tiled, pyramidal OME-TIFF each, ``<panel>-<image>.ome.tif``, from the
OME-Zarr levels (docs/design.md, The results store): the levels are checked as ``verify``
checks them, read through their checksums tile band by tile band, and each file is written
atomically. The results group is the one of the panel's combined model, or ``version``.
Nothing else is written.
"""

from __future__ import annotations

from pathlib import Path

import zarr

from xraysep import config
from xraysep.errors import InputError
from xraysep.io import contents, images, locks, pyramid, store
from xraysep.io.atomic import recover
from xraysep.io.console import err

FORMATS = ("ome-tiff",)


def results_group(where: config.Paths, version: str | None) -> Path:
    """The results group to export: ``version``, else the one of the panel's combined model,
    else the only one; anything else is one :class:`InputError` line saying what there is."""
    from xraysep.jobs.separate import model_version

    recover(where.separated_store)
    found = sorted(
        p.name for p in where.separated_store.glob("[!.]*") if (p / "zarr.json").is_file()
    )
    if not found:
        if not (where.store / "zarr.json").is_file():
            raise InputError(f"{where.store}: panel {where.panel!r} not found")
        raise InputError(
            f"{where.separated_store}: no results; run `xraysep separate {where.panel}` first"
        )
    if version is None and where.combine_model.is_file():
        version = model_version(where.combine_model)
    if version is None and len(found) == 1:
        version = found[0]
    if version not in found:
        raise InputError(
            f"{where.separated_store}: no results of model version {version}; there are "
            f"{', '.join(found)} (choose one with --version)"
        )
    return where.separated_store / version


def export(
    name: str, fmt: str = "ome-tiff", out: Path | None = None, version: str | None = None
) -> list[Path]:
    """Write the panel's results as ``fmt`` files into ``out`` (default
    ``reports/<panel>/ome-tiff/``); returns the files written."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: unknown; use {' or '.join(FORMATS)}")
    where = config.paths(name)
    folder = Path(out) if out else where.reports_dir / "ome-tiff"
    with locks.reading(where.separated_store):
        path = results_group(where, version)
        group = zarr.open_group(path, mode="r", zarr_format=3)
        keys = list(group.attrs.get("outputs", contents.REQUIRED_RESULTS))
        specs = {key: contents.RESULTS[key] for key in keys} | contents.INPUTS
        written = []
        for key, spec in specs.items():
            levels = [
                store.Checked(array, path, level, spec)
                for level, array in pyramid.open_image(path, group, key, spec).items()
            ]
            target = folder / f"{name}-{key.replace('/', '-')}.ome.tif"
            images.write_ome_tiff(target, levels, f"{name} {key}")
            written.append(target)
    err.print(f"{name}: {len(written)} OME-TIFF files from {path.name} → {folder}/")
    return written
