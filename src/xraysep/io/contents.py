"""What each array of a panel store and of a results store must look like, and the checks.

The shapes, types and documented value ranges live here once; readers run
:func:`check_array` when they open a store and :func:`check_values` on every window they
read (cheap: one pass of min, max and NaN over data already in memory), and ``xraysep
verify`` runs both over every chunk. Each failure is one :class:`~xraysep.errors.InputError`
naming the store, the array and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import zarr

from xraysep.errors import InputError


@dataclass(frozen=True)
class Spec:
    """One array: (H, W) or (H, W, ``channels``), one of ``dtypes``, values in [low, high]
    (None: unbounded on that side; always finite)."""

    channels: int | None
    dtypes: tuple[str, ...]
    low: float | None = None
    high: float | None = None

    @property
    def bounds(self) -> str:
        """The documented range, ``[0, 1]``; ``finite`` when unbounded."""
        if self.low is None and self.high is None:
            return "finite"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"[{low}, {high}]"


RGB = Spec(3, ("uint8", "uint16"))  # integers: their type bounds the range
PANEL = {"front": RGB, "back": RGB, "xray": Spec(None, ("float32",), 0.0, 1.0)}
TRUTH_ARRAY = Spec(None, ("float32",))  # true side X-rays, and any other array under truth/
TRUTH = {key: TRUTH_ARRAY for key in ("truth/front_xray", "truth/back_xray")}
RESULTS = {
    "front_xray": Spec(None, ("float32",)),
    "back_xray": Spec(None, ("float32",)),
    "hidden": Spec(None, ("float32",)),
    "uncertainty": Spec(None, ("float32",), 0.0, None),
}
REQUIRED_RESULTS = ("front_xray", "back_xray")
Output = TypeVar("Output")
# the panel's arrays, copied beside each result as OME-Zarr images so viewers show them aligned
INPUTS = {f"inputs/{key}": spec for key, spec in PANEL.items()}


def result_names(outputs: dict[str, Output]) -> dict[str, Output]:
    """A separation's outputs (``front``, ``back``, ``hidden``) under the names of
    :data:`RESULTS` (``front_xray``, ``back_xray``, ``hidden``): the results store and the
    served answer name them alike."""
    return {key if key == "hidden" else f"{key}_xray": value for key, value in outputs.items()}


def panel_spec(key: str) -> Spec:
    """The spec of a panel store's array ``key`` (``front``, ``truth/front_xray``)."""
    known = PANEL | TRUTH
    if key in known:
        return known[key]
    if key.startswith("truth/"):
        return TRUTH_ARRAY
    raise KeyError(key)


def check_array(
    store: Path,
    key: str,
    array: zarr.Array,
    spec: Spec,
    size: tuple[int, int],
    *,
    channels_first: bool = False,
):
    """Refuse an array whose shape or type is not ``spec``'s at ``size`` (H, W): (H, W, C),
    or (C, H, W) with ``channels_first`` (an OME-Zarr level)."""
    channels = () if spec.channels is None else (spec.channels,)
    expected = (*channels, *size) if channels_first else (*size, *channels)
    if tuple(array.shape) != expected:
        raise InputError(
            f"{store}: array {key!r} has shape {tuple(array.shape)}; expected {expected}"
        )
    if str(array.dtype) not in spec.dtypes:
        raise InputError(
            f"{store}: array {key!r} has type {array.dtype}; expected {' or '.join(spec.dtypes)}"
        )


def check_values(store: Path, key: str, values: np.ndarray, spec: Spec, where: str) -> None:
    """Refuse values that are NaN, infinite or outside ``spec``'s range; ``where`` names the
    window they came from (``rows 0-511, columns 0-511``)."""
    if np.issubdtype(values.dtype, np.integer) or values.size == 0:
        return
    low, high = float(np.min(values)), float(np.max(values))  # NaN propagates into both
    if not (np.isfinite(low) and np.isfinite(high)):
        problem = "NaN" if np.isnan(values).any() else "infinite values"
    elif (spec.low is not None and low < spec.low) or (spec.high is not None and high > spec.high):
        problem = f"values {low:.4g} to {high:.4g}, outside {spec.bounds}"
    else:
        return
    raise InputError(f"{store}: array {key!r} holds {problem} at {where}; the store is damaged")
