"""How good a separation is (docs/design.md, Metrics).

``recon_mse`` and ``recon_mae`` are the paper's measures: how well the two separated images
sum to the mixed X-ray. They do not measure separation (``x1 = x``, ``x2 = 0`` scores zero),
so with ground truth we also score each side: PSNR and SSIM after removing the best constant
offset (``x1 + c``, ``x2 − c`` explain ``x`` equally well, so no method can know ``c``), and
crosstalk, the absolute correlation between a side's error and the *other* side's true image:
0 when nothing leaks, 1 when the other side is copied in whole. Grey values are in the
stretched X-ray's units, so PSNR uses a data range of 1.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

DATA_RANGE = 1.0
HEADERS = {  # metric -> short header, in table order (the terminal's table fits 80 columns)
    "recon_mse": "recon MSE",
    "recon_mae": "recon MAE",
    "front_psnr": "front PSNR",
    "front_ssim": "front SSIM",
    "back_psnr": "back PSNR",
    "back_ssim": "back SSIM",
    "crosstalk": "crosstalk",
}


def reconstruction(xray: np.ndarray, front: np.ndarray, back: np.ndarray) -> dict[str, float]:
    residual = xray.astype(np.float64) - front - back
    return {
        "recon_mse": float(np.mean(residual**2)),
        "recon_mae": float(np.mean(np.abs(residual))),
    }


def remove_offset(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``estimate + c`` with the ``c`` that minimises the squared error to ``truth``."""
    return estimate + (np.mean(truth, dtype=np.float64) - np.mean(estimate, dtype=np.float64))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either side is constant (nothing to correlate)."""
    a = a.astype(np.float64).ravel() - np.mean(a, dtype=np.float64)
    b = b.astype(np.float64).ravel() - np.mean(b, dtype=np.float64)
    denominator = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denominator) if denominator > 1e-12 * a.size else 0.0


def side(estimate: np.ndarray, truth: np.ndarray, other_truth: np.ndarray) -> dict[str, float]:
    """Offset-invariant PSNR and SSIM of one side, and its crosstalk from the other side."""
    aligned = remove_offset(estimate.astype(np.float64), truth.astype(np.float64))
    error = aligned - truth
    mse = float(np.mean(error**2))
    psnr = (
        float(peak_signal_noise_ratio(truth.astype(np.float64), aligned, data_range=DATA_RANGE))
        if mse > 0
        else float("inf")
    )
    ssim = float(structural_similarity(truth.astype(np.float64), aligned, data_range=DATA_RANGE))
    return {"psnr": psnr, "ssim": ssim, "crosstalk": abs(correlation(error, other_truth))}


def score(
    xray: np.ndarray,
    front: np.ndarray,
    back: np.ndarray,
    truth_front: np.ndarray | None = None,
    truth_back: np.ndarray | None = None,
) -> dict[str, float]:
    """All metrics of one separated pair, flat: ``recon_*``, ``front_*``, ``back_*``,
    ``crosstalk``."""
    result = reconstruction(xray, front, back)
    if truth_front is not None and truth_back is not None:
        for name, estimate, truth, other in (
            ("front", front, truth_front, truth_back),
            ("back", back, truth_back, truth_front),
        ):
            result |= {
                f"{name}_{key}": value for key, value in side(estimate, truth, other).items()
            }
        result["crosstalk"] = (result["front_crosstalk"] + result["back_crosstalk"]) / 2
    return result
