"""Ingest: image files -> the zarr panel store, with provenance
(docs/design.md, The panel store).

Reads the two photographs and the mixed X-ray (and, for synthetic panels, the true X-rays
of each side and of what neither photograph shows), checks that they fit together, mirrors
the back photograph into the X-ray frame, registers each photograph to the X-ray when asked
(``jobs/register.py``), stretches the X-ray and writes everything into
``data/panels/<name>.zarr`` in one atomic step; only then the registration check pictures
(to ``reports/<name>/`` and MLflow). A listed panel is ingested from its raw folder
without naming files (:func:`ingest_listed`).
"""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from xraysep import config
from xraysep.core.preprocess import STRETCH_PERCENTILES, stretch, stretch_limits, stretch_side
from xraysep.errors import InputError
from xraysep.io import images, raw_folder, store, tracking
from xraysep.io.console import err, progress
from xraysep.io.sources import Mapped, Mirrored, Source
from xraysep.jobs import register as registration
from xraysep.settings import PanelEntry


def _source(path: Path) -> dict[str, str]:
    root = config.project_root()
    resolved = path.resolve()
    shown = resolved.relative_to(root) if resolved.is_relative_to(root) else resolved
    return {"path": str(shown), "sha256": images.sha256(path)}


def _rgb_for_store(photo: Source, path: Path) -> Source:
    """Keep 8/16-bit photographs as they are; floats must already be in [0, 1], other integer
    types are scaled by their type's maximum to 16 bits (negative values have no meaning),
    window by window as they are written."""
    if photo.dtype in (np.uint8, np.uint16):
        return photo
    return Mapped(photo, partial(_rgb_window, path=path), np.dtype(np.uint16))


def _rgb_window(array: np.ndarray, path: Path) -> np.ndarray:
    """One window of :func:`_rgb_for_store`'s conversion."""
    if np.issubdtype(array.dtype, np.floating):
        if array.min() < 0.0 or array.max() > 1.0:
            raise InputError(
                f"{path}: float RGB values must lie in [0, 1] "
                f"(found {array.min():g} to {array.max():g})"
            )
        return images.to_uint16(array)
    if array.min() < 0:
        raise InputError(f"{path}: negative values in an RGB photograph ({array.dtype})")
    return images.to_uint16(array / np.iinfo(array.dtype).max)


def _check_windows(source: Source) -> None:
    """Read every window of a float ``source`` once, so that a value its reading or
    conversion refuses (NaN, infinity, an RGB value outside [0, 1]) stops ingest before the
    store, or its lock, is touched."""
    for window in store.blocks(source.shape[:2]):
        source[window]


def _report_registration(name: str, registered: dict[str, registration.Registered]) -> None:
    """The check pictures, from the panel as stored, to ``reports/<name>/``, and with each
    side's residual to a ``register`` run in the panel's experiment (tagged with the new
    store's data hash)."""
    panel = store.open_panel(config.paths(name).store, name)
    with tracking.run(name, "register"):
        for side, done in registered.items():
            check = config.paths(name).reports_dir / f"registration-{side}.png"
            check.parent.mkdir(parents=True, exist_ok=True)
            picture = registration.check_picture(panel.array("xray"), panel.array(side))
            images.write_png(check, picture)
            mlflow.log_artifact(str(check), "registration")
            mlflow.log_metric(f"{side}_residual_px", done.provenance["residual"]["value"])
            mlflow.log_param(f"{side}_method", done.provenance["method"])
            err.print(f"registration check of the {side}: {check}")


def ingest(
    name: str,
    front: Path,
    back: Path,
    xray: Path,
    *,
    mirror_back: bool = True,
    truth_front: Path | None = None,
    truth_back: Path | None = None,
    truth_hidden: Path | None = None,
    overwrite: bool = False,
    made_by: dict[str, Any] | None = None,
    register: bool = False,
    front_points: Path | None = None,
    back_points: Path | None = None,
) -> Path:
    """Build the panel store ``name`` from image files; returns the store's path.

    ``made_by`` records how the files were made (synth's settings and seed) in the store's
    attributes, so a panel can be rebuilt exactly from them.

    With ``register``, photographs of any size are registered to the X-ray (automatically,
    or from the control-point files ``front_points``, ``back_points``) and resampled into
    its pixel grid; the store records each transform under ``registration`` and a check
    picture goes to ``reports/<name>/registration-<side>.png``. Without it (the default
    here, because ``synth`` calls this with photographs already in the X-ray's frame; the
    CLI registers unless told ``--no-register``) every photograph must have the X-ray's size.
    """
    where = config.paths(name)
    if store.panel_exists(where.store) and not overwrite:
        raise InputError(f"{where.store}: panel {name!r} exists; pass --overwrite to replace it")
    points = {"front": front_points, "back": back_points}
    if not register and any(points.values()):
        raise InputError("control points (--front-points, --back-points) need registration")
    if (truth_front is None) != (truth_back is None):
        raise InputError("ground truth needs both --truth-front and --truth-back")
    limit = config.settings().ingest.max_megapixels
    inputs: dict[str, tuple[Path, images.Kind]] = {
        "xray": (Path(xray), "grey"),
        "front": (Path(front), "rgb"),
        "back": (Path(back), "rgb"),
    }
    if truth_front is not None and truth_back is not None:
        inputs["truth/front_xray"] = (Path(truth_front), "grey")
        inputs["truth/back_xray"] = (Path(truth_back), "grey")
    if truth_hidden is not None:
        if truth_front is None:
            raise InputError("--truth-hidden needs --truth-front and --truth-back")
        inputs["truth/hidden_xray"] = (Path(truth_hidden), "grey")

    with progress() as bar, contextlib.ExitStack() as files:
        task = bar.add_task(f"ingest {name}", total=len(inputs) + 1, status="")
        loaded: dict[str, Source] = {}
        for key, (path, kind) in inputs.items():
            bar.update(task, status=path.name)
            loaded[key] = files.enter_context(images.open_image(path, kind, limit))
            registered = register and key in points
            if not registered and loaded[key].shape[:2] != loaded["xray"].shape:
                h, w = loaded[key].shape[:2]
                H, W = loaded["xray"].shape
                raise InputError(
                    f"{path}: size {w}×{h} does not match the X-ray {inputs['xray'][0]} ({W}×{H})"
                )
            bar.advance(task)

        types = {key: image.dtype for key, image in loaded.items()}
        raw = loaded.pop("xray")
        low, high = stretch_limits(raw)
        if not high > low:
            raise InputError(
                f"{inputs['xray'][0]}: X-ray is constant between its 1st and 99th percentiles "
                f"({low:g}); the stretch is undefined"
            )
        arrays = {
            "front": _rgb_for_store(loaded.pop("front"), inputs["front"][0]),
            "back": _rgb_for_store(loaded.pop("back"), inputs["back"][0]),
            "xray": Mapped(raw, partial(stretch, low=low, high=high), np.dtype(np.float32)),
        }
        if mirror_back:
            arrays["back"] = Mirrored(arrays["back"])
        for key, side in loaded.items():
            arrays[key] = Mapped(
                side, partial(stretch_side, low=low, high=high), np.dtype(np.float32)
            )
        for key, array in arrays.items():  # the X-ray's percentiles have read it whole
            if key != "xray" and np.issubdtype(types[key], np.floating):
                _check_windows(array)
        registered: dict[str, registration.Registered] = {}
        if register:
            bar.update(task, status="registering the photographs")
            registered = registration.register(
                {key: inputs[key][0] for key in (*points, "xray")},
                {side: arrays[side] for side in points},
                arrays["xray"],
                mirrored_back=mirror_back,
                points=points,
            )
            arrays |= {side: done.image for side, done in registered.items()}

        sources = {key: _source(path) for key, (path, _) in inputs.items()}
        sources |= {f"{side}_points": _source(Path(p)) for side, p in points.items() if p}
        attrs = {
            "xraysep": {
                "format": 1,
                "sources": sources,
                "mirrored_back": mirror_back,
                "stretch": {
                    "percentiles": list(STRETCH_PERCENTILES),
                    "low": low,
                    "high": high,
                    "source_dtype": str(raw.dtype),
                },
                **({"made_by": made_by} if made_by else {}),
                **(
                    {"registration": {side: done.provenance for side, done in registered.items()}}
                    if registered
                    else {}
                ),
            }
        }
        bar.update(task, status=f"writing {where.store.name}")
        store.write_panel(where.store, arrays, attrs, overwrite=overwrite)
        bar.advance(task)
    if registered:
        _report_registration(name, registered)
    err.print(
        f"panel {name!r}: {arrays['xray'].shape[1]}×{arrays['xray'].shape[0]} → {where.store}"
    )
    return where.store


def ingest_folder(name: str, entry: PanelEntry, *, overwrite: bool = False) -> Path:
    """Ingest panel ``name`` from its raw folder (``io.raw_folder``) with the options of
    ``entry``: no file is named, each is found by its fixed name."""
    where = config.paths(name)
    files = raw_folder.find(where.raw_dir)
    return ingest(
        name,
        files.front,
        files.back,
        files.xray,
        mirror_back=entry.mirror_back,
        truth_front=files.truth_front,
        truth_back=files.truth_back,
        truth_hidden=files.truth_hidden,
        overwrite=overwrite,
        made_by=raw_folder.made_by(where.raw_dir),
        register=not entry.aligned,
        front_points=files.front_points,
        back_points=files.back_points,
    )


def ingest_listed(name: str, *, overwrite: bool = False) -> Path:
    """Ingest panel ``name`` from its raw folder with its ``panels`` entry in ``params.yaml``
    (the defaults where it is not listed): the door of the DVC pipeline's ingest stage."""
    entry = config.settings().panels.get(name, PanelEntry())
    return ingest_folder(name, entry, overwrite=overwrite)
