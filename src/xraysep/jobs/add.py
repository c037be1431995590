"""Add: a user's scans become a listed panel of the DVC pipeline.

Copies the files into the panel's raw folder under their fixed names (``io.raw_folder``) and
lists the panel under ``panels`` in ``params.yaml``, so ``dvc add data/raw/<name>`` versions
the scans and ``dvc repro`` runs the new panel's stages, and only those.
"""

from __future__ import annotations

from pathlib import Path

from xraysep import config
from xraysep.errors import InputError
from xraysep.io import params_file, raw_folder
from xraysep.io.console import err
from xraysep.settings import PanelEntry


def add(
    name: str,
    front: Path,
    back: Path,
    xray: Path,
    *,
    front_points: Path | None = None,
    back_points: Path | None = None,
    aligned: bool = False,
    mirror_back: bool = True,
    overwrite: bool = False,
) -> Path:
    """Fill ``data/raw/<name>/`` from the given files and list the panel; returns the folder.
    Nothing is written when any file or the listing is refused."""
    where = config.paths(name)
    if aligned and (front_points or back_points):
        raise InputError(
            "control points (--front-points, --back-points) need registration; drop --aligned"
        )
    if where.raw_dir.exists() and not overwrite:
        raise InputError(f"{where.raw_dir}: exists; pass --overwrite to replace its files")
    params = where.root / "params.yaml"
    updated = params_file.with_panel(
        params, name, PanelEntry(aligned=aligned, mirror_back=mirror_back)
    )
    files = {
        "front": front,
        "back": back,
        "xray": xray,
        "front_points": front_points,
        "back_points": back_points,
    }
    raw_folder.fill(where.raw_dir, {role: Path(p) for role, p in files.items() if p is not None})
    if updated is not None:
        params_file.replace(params, updated)
    err.print(
        f"panel {name!r}: {where.raw_dir} and params.yaml's panels; next "
        f"`dvc add data/raw/{name}` and `dvc repro` (or `xraysep ingest {name}`)"
    )
    return where.raw_dir
