"""How well an uncertainty map flags where a separation is wrong, where the truth is known.

A map is only worth reading if it rises where the split is off: ``uncertainty_error_corr``
is the correlation, over the pixels, of the map with the separation's absolute error (the
mean over both sides, each after the unidentifiable offset). Positive: brighter where the
error is larger; 0: the map says nothing about the error.
"""

from __future__ import annotations

import numpy as np

from xraysep.core.metrics import correlation, remove_offset

HEADERS = {"uncertainty_error_corr": "uncert./error corr"}  # metric -> short header


def scores(
    uncertainty: np.ndarray,
    front: np.ndarray,
    back: np.ndarray,
    truth_front: np.ndarray,
    truth_back: np.ndarray,
) -> dict[str, float]:
    """``uncertainty_error_corr`` of one map and the pair it came with."""
    error = sum(
        np.abs(remove_offset(estimate.astype(np.float64), truth) - truth)
        for estimate, truth in ((front, truth_front), (back, truth_back))
    )
    return {"uncertainty_error_corr": correlation(uncertainty, error / 2)}
