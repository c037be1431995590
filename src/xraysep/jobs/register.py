"""Register the photographs to the X-ray at ingest (docs/registration.md).

Estimates the map between each photograph (the back already mirrored) and the X-ray, by
mutual information (both photographs together: each one's colours help explain the other's
part of the X-ray away) or from a control-point file, refuses an estimate it cannot trust,
and resamples each photograph into the X-ray's pixel grid. Returns the registered
photographs, the provenance that the panel store records and the check pictures; writes
nothing, so a refusal leaves no trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xraysep import config
from xraysep.core.registration.mapping import Affine
from xraysep.core.registration.points import fit_points
from xraysep.core.registration.resample import coverage
from xraysep.core.registration.working import LUMINANCE, shrink
from xraysep.errors import InputError
from xraysep.io.figures import registration_check
from xraysep.io.points_file import read_points
from xraysep.io.sources import Resampled, Source
from xraysep.settings import Registration

if TYPE_CHECKING:
    from xraysep.core.registration.automatic import Estimate

CHECK_SIZE = 1024  # pixels on the longer side of the check pictures, at most
ORDERS = {1: "bilinear (spline order 1)", 3: "cubic (spline order 3)"}
COORDINATES = (
    "(x, y) = (column, row), (0, 0) the centre of the top-left pixel; the back photograph "
    "as mirrored into the X-ray's frame"
)
AUTOMATIC_RESIDUAL = (
    "RMS distance over the X-ray between the solutions from two starts, X-ray pixels "
    "(docs/registration.md, Residual)"
)


@dataclass(frozen=True)
class Registered:
    image: Resampled  # the photograph in the X-ray's pixel grid, in its own dtype, by window
    provenance: dict[str, Any]


def check_picture(xray: Source, image: Source) -> np.ndarray:
    """The check picture of the registered 8- or 16-bit RGB ``image`` over the stretched
    ``xray`` (both as stored), from copies reduced by block means to at most ``CHECK_SIZE``
    pixels a side, a band of rows at a time: full-size copies would not fit a gigapixel
    panel."""
    k = max(1, math.ceil(max(xray.shape) / CHECK_SIZE))
    grey = shrink(xray, k).image if k > 1 else np.asarray(xray[:, :])
    return registration_check(grey, shrink(image, k).image @ LUMINANCE, CHECK_SIZE)


def _from_points(
    points: Path, photo: Source, mirrored: bool, chosen: Registration
) -> tuple[Affine, dict[str, Any]]:
    pairs = read_points(points)
    marks = pairs.photo.copy()
    if mirrored:
        marks[:, 0] = photo.shape[1] - 1 - marks[:, 0]
    fit = fit_points(marks, pairs.xray, chosen.transform)
    if fit is None:
        raise InputError(
            f"{points}: the {len(pairs.lines)} control points do not determine a "
            f"{chosen.transform} map (they lie on one line or in one place)"
        )
    if fit.residual > chosen.max_points_residual:
        raise InputError(
            f"{points}: the control points fit with an RMS residual of {fit.residual:.2f} X-ray "
            f"pixels, above ingest.registration.max_points_residual "
            f"({chosen.max_points_residual}); line {pairs.lines[fit.worst]} fits worst"
        )
    record = {
        "method": "control-points",
        "pairs": len(marks),  # the file itself is among the store's sources
        "metric": None,
        "residual": {
            "value": fit.residual,
            "definition": "RMS distance of the control points after the fit, X-ray pixels",
        },
        "settings": {
            "transform": chosen.transform,
            "order": chosen.order,
            "max_points_residual": chosen.max_points_residual,
        },
    }
    return fit.mapping, record


def _automatic(path: Path, side: str, estimate: Estimate, chosen: Registration):
    """The estimate's provenance, or a one-line refusal naming the photograph."""
    advice = f"give control points with --{side}-points"
    if not estimate.converged:
        raise InputError(
            f"{path}: registration to the X-ray did not converge within "
            f"{chosen.iterations} iterations (residual {estimate.residual:.2f} X-ray pixels); "
            f"{advice}"
        )
    if not estimate.residual <= chosen.max_residual:
        raise InputError(
            f"{path}: registration to the X-ray is uncertain: residual {estimate.residual:.2f} "
            f"X-ray pixels, above ingest.registration.max_residual ({chosen.max_residual}); "
            f"{advice}"
        )
    return {
        "method": "mutual-information",
        "metric": {"name": "Mattes mutual information (lower is better)", "value": estimate.metric},
        "residual": {"value": estimate.residual, "definition": AUTOMATIC_RESIDUAL},
        "converged": estimate.converged,
        "iterations": estimate.iterations,
        "stop": estimate.stop,
        "settings": chosen.model_dump(),
    }


def register(
    paths: dict[str, Path],
    photos: dict[str, Source],
    xray: Source,
    *,
    mirrored_back: bool,
    points: dict[str, Path | None],
) -> dict[str, Registered]:
    """Each of ``photos`` (side -> RGB; the file at ``paths[side]``, the back mirrored when
    ``mirrored_back``) in the frame of the stretched ``xray`` (the file at ``paths["xray"]``):
    from the control points of ``points[side]`` where given, else automatically, which an
    X-ray under ``min_size`` pixels a side is refused."""
    chosen = config.settings().ingest.registration
    mappings, records = {}, {}
    for side, chosen_points in points.items():
        if chosen_points is not None:
            mirrored = mirrored_back and side == "back"
            mappings[side], records[side] = _from_points(
                Path(chosen_points), photos[side], mirrored, chosen
            )
    if len(mappings) < len(photos):
        if min(xray.shape) < chosen.min_size:
            h, w = xray.shape
            raise InputError(
                f"{paths['xray']}: {w}×{h} is too small to register automatically (under "
                f"ingest.registration.min_size, {chosen.min_size} pixels a side); give control "
                "points with --front-points and --back-points, or --no-register for "
                "photographs in the X-ray's frame"
            )
        # SimpleITK loads here, not with every command that can ingest: 0.45 s and a 50 MB wheel
        from xraysep.core.registration import automatic

        try:
            estimates = automatic.register(xray, photos, chosen, known=dict(mappings))
        except automatic.RegistrationFailedError as failure:
            raise InputError(
                f"{paths[failure.side]}: registration to the X-ray failed ({failure.reason}; "
                f"residual undefined); give control points with --{failure.side}-points"
            ) from None
        for side, estimate in estimates.items():
            mappings[side] = estimate.mapping
            records[side] = _automatic(paths[side], side, estimate, chosen)
    return {
        side: _registered(photos[side], mappings[side], records[side], xray, chosen)
        for side in photos
    }


def _registered(
    photo: Source,
    mapping: Affine,
    record: dict[str, Any],
    xray: Source,
    chosen: Registration,
) -> Registered:
    """``photo`` resampled through ``mapping`` (window by window, as it is read) and its full
    provenance."""
    image = Resampled(photo, mapping, xray.shape, chosen.order, chosen.block)
    forward = mapping.inverse()
    record |= {
        "transform": chosen.transform,
        "coordinates": COORDINATES,
        "photograph_to_xray": forward.as_dict(),
        "parameters": forward.parameters(photo.shape[:2], xray.shape),
        "photograph_size": [photo.shape[1], photo.shape[0]],
        "coverage": coverage(mapping, xray.shape, photo.shape),
        "interpolation": ORDERS[chosen.order],
    }
    return Registered(image, record)
