"""Registration from control points: a similarity or affine map fitted by least squares.

For photographs that automatic registration cannot match (little shared structure, heavy
retouching, a cropped view), a person marks the same features on the photograph and the
X-ray; scikit-image fits the map from them. The residual is the RMS distance, in X-ray
pixels, between where the fitted map puts each photograph point and where it was marked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.transform import estimate_transform

from xraysep.core.registration.mapping import Affine

MIN_PAIRS = 3  # an affine map has six unknowns: three pairs determine it


@dataclass(frozen=True)
class PointFit:
    """``mapping`` sends X-ray pixels to photograph pixels."""

    mapping: Affine
    residual: float  # RMS over the points, X-ray pixels
    worst: int  # the index of the pair that fits worst


def fit_points(photo: np.ndarray, xray: np.ndarray, transform: str) -> PointFit | None:
    """Fit the ``transform`` (similarity or affine) that sends the (N, 2) ``photo`` points
    onto the ``xray`` points; ``None`` when they do not determine it (an affine map from
    points on one line, a similarity from points all in one place)."""
    spread = np.linalg.matrix_rank(photo - photo.mean(axis=0), tol=1e-6)
    if spread < (2 if transform == "affine" else 1):
        return None
    fitted = estimate_transform(transform, photo, xray)
    if not fitted or not np.isfinite(fitted.params).all():
        return None
    forward = Affine.from_homogeneous(fitted.params)
    if abs(np.linalg.det(forward.matrix)) < 1e-12:
        return None
    distances = np.linalg.norm(forward(photo) - xray, axis=1)
    return PointFit(
        mapping=forward.inverse(),
        residual=float(np.sqrt(np.mean(distances**2))),
        worst=int(np.argmax(distances)),
    )
