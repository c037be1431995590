"""A panel's raw folder, ``data/raw/<panel>/``: the files a capture gives, under fixed names.

The pipeline finds a listed panel's inputs here without options, so ``dvc.yaml`` has one
ingest stage for every panel: ``front.*``, ``back.*`` and ``xray.*`` (TIFF, PNG or JPEG),
optionally ``front-points.csv`` and ``back-points.csv`` (control points), ``truth_front.*``,
``truth_back.*`` and ``truth_hidden.*`` (the true X-rays of a synthetic panel) and
``made_by.json`` (the settings that synthesised it).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from xraysep.errors import InputError
from xraysep.io.atomic import atomic_dir

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
MADE_BY = "made_by.json"
WHAT = {
    "front": "front photograph",
    "back": "back photograph",
    "xray": "mixed X-ray",
    "truth_front": "true front X-ray",
    "truth_back": "true back X-ray",
    "truth_hidden": "true hidden X-ray",
}


@dataclass(frozen=True)
class RawFiles:
    """The files of one raw folder; the optional ones are ``None`` where absent."""

    front: Path
    back: Path
    xray: Path
    front_points: Path | None = None
    back_points: Path | None = None
    truth_front: Path | None = None
    truth_back: Path | None = None
    truth_hidden: Path | None = None

    def paths(self) -> dict[str, Path]:
        """Every file present, by role."""
        present = {f.name: getattr(self, f.name) for f in fields(self)}
        return {role: path for role, path in present.items() if path is not None}


def _image(folder: Path, stem: str, required: bool) -> Path | None:
    found = sorted(p for p in folder.glob(f"{stem}.*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(f"{folder}: {names} are all the {WHAT[stem]}; keep one")
    if not found and required:
        kinds = ", ".join(IMAGE_SUFFIXES)
        raise InputError(
            f"{folder / stem}.*: missing; the {WHAT[stem]} goes there ({kinds}), "
            "or use `xraysep add`"
        )
    return found[0] if found else None


def find(folder: Path) -> RawFiles:
    """The files of the raw folder ``folder``, or a one-line error naming what is missing."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; `xraysep add` makes it from your scans")
    points = {side: folder / f"{side}-points.csv" for side in ("front", "back")}
    return RawFiles(
        front=_image(folder, "front", True),
        back=_image(folder, "back", True),
        xray=_image(folder, "xray", True),
        front_points=points["front"] if points["front"].is_file() else None,
        back_points=points["back"] if points["back"].is_file() else None,
        truth_front=_image(folder, "truth_front", False),
        truth_back=_image(folder, "truth_back", False),
        truth_hidden=_image(folder, "truth_hidden", False),
    )


def made_by(folder: Path) -> dict[str, Any] | None:
    """How the folder's files were made (``synth``'s settings), if it says."""
    path = folder / MADE_BY
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None


def canonical_name(role: str, source: Path) -> str:
    """The name a file of ``role`` takes in a raw folder (the source's image suffix kept)."""
    if role.endswith("_points"):
        return f"{role.removesuffix('_points')}-points.csv"
    return f"{role}{source.suffix.lower()}"


def fill(folder: Path, files: dict[str, Path]) -> None:
    """Copy ``files`` (role → source) into the new raw folder ``folder``, all or nothing."""
    for role, source in files.items():
        if not source.is_file():
            raise InputError(f"{source}: no such file (the {role.replace('_', ' ')})")
        if not role.endswith("_points") and source.suffix.lower() not in IMAGE_SUFFIXES:
            raise InputError(f"{source}: not a TIFF, PNG or JPEG file")
    with atomic_dir(folder) as temporary:
        for role, source in files.items():
            shutil.copyfile(source, temporary / canonical_name(role, source))
