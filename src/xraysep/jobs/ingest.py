"""Ingest: image files -> the zarr panel store, with provenance
(docs/design.md, The panel store).

Reads the two photographs and the mixed X-ray (and, for synthetic panels, the true X-rays
of each side and of what neither photograph shows), checks that they fit together, mirrors
the back photograph into the X-ray frame, stretches the X-ray and writes everything into
``data/panels/<name>.zarr`` in one atomic step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xraysep import config
from xraysep.core.preprocess import STRETCH_PERCENTILES, stretch, stretch_limits, stretch_side
from xraysep.errors import InputError
from xraysep.io import images, store
from xraysep.io.console import err, progress


def _source(path: Path) -> dict[str, str]:
    root = config.project_root()
    resolved = path.resolve()
    shown = resolved.relative_to(root) if resolved.is_relative_to(root) else resolved
    return {"path": str(shown), "sha256": images.sha256(path)}


def _rgb_for_store(array: np.ndarray, path: Path) -> np.ndarray:
    """Keep 8/16-bit photographs as they are; floats must already be in [0, 1], other integer
    types are scaled by their type's maximum to 16 bits (negative values have no meaning)."""
    if array.dtype in (np.uint8, np.uint16):
        return array
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
) -> Path:
    """Build the panel store ``name`` from image files; returns the store's path.

    ``made_by`` records how the files were made (synth's settings and seed) in the store's
    attributes, so a panel can be rebuilt exactly from them.
    """
    where = config.paths(name)
    if store.panel_exists(where.store) and not overwrite:
        raise InputError(f"{where.store}: panel {name!r} exists; pass --overwrite to replace it")
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

    with progress() as bar:
        task = bar.add_task(f"ingest {name}", total=len(inputs) + 1, status="")
        loaded: dict[str, np.ndarray] = {}
        for key, (path, kind) in inputs.items():
            bar.update(task, status=path.name)
            loaded[key] = images.read_image(path, kind, limit)
            if loaded[key].shape[:2] != loaded["xray"].shape:
                h, w = loaded[key].shape[:2]
                H, W = loaded["xray"].shape
                raise InputError(
                    f"{path}: size {w}×{h} does not match the X-ray {inputs['xray'][0]} ({W}×{H})"
                )
            bar.advance(task)

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
            "xray": stretch(raw, low, high),
        }
        if mirror_back:
            arrays["back"] = np.ascontiguousarray(arrays["back"][:, ::-1])
        for key, side in loaded.items():
            arrays[key] = stretch_side(side, low, high)

        attrs = {
            "xraysep": {
                "format": 1,
                "sources": {key: _source(path) for key, (path, _) in inputs.items()},
                "mirrored_back": mirror_back,
                "stretch": {
                    "percentiles": list(STRETCH_PERCENTILES),
                    "low": low,
                    "high": high,
                    "source_dtype": str(raw.dtype),
                },
                **({"made_by": made_by} if made_by else {}),
            }
        }
        bar.update(task, status=f"writing {where.store.name}")
        store.write_panel(where.store, arrays, attrs, overwrite=overwrite)
        bar.advance(task)
    err.print(
        f"panel {name!r}: {arrays['xray'].shape[1]}×{arrays['xray'].shape[0]} → {where.store}"
    )
    return where.store
