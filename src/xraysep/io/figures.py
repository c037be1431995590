"""Pictures for people: a figure laid out like the paper's Figures 3 and 4, and previews.

The figure shows the inputs (both photographs and the mixed X-ray, and the true side X-rays
and hidden content when known), then one row per approach: its front and back X-ray, their
sum, its hidden layer (``core.hidden``; else the reconstruction error ``x − sum``) and, with
truth, each side's error after removing the unidentifiable offset. Grey images use a 1–99 %
display stretch each (as one views radiographs); hidden layers and error maps share one
symmetric colour scale so approaches compare at a glance.
The registration check shows a registered photograph's edges over the X-ray.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from skimage.feature import canny
from skimage.transform import resize

from xraysep.core.metrics import remove_offset
from xraysep.io import images
from xraysep.io.atomic import atomic_file

Pair = tuple[np.ndarray, np.ndarray]


def _grey(axis, image: np.ndarray, title: str) -> None:
    low, high = np.percentile(image, (1, 99))
    axis.imshow(image, cmap="gray", vmin=low, vmax=high if high > low else low + 1e-6)
    axis.set_title(title, fontsize=8)


def _error(axis, image: np.ndarray, title: str, limit: float):
    axis.set_title(title, fontsize=8)
    return axis.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)


def paper_figure(
    panel: str,
    front_rgb: np.ndarray,
    back_rgb: np.ndarray,
    xray: np.ndarray,
    approaches: dict[str, Pair],
    truth: Pair | None = None,
    hidden: dict[str, np.ndarray] | None = None,
    hidden_truth: np.ndarray | None = None,
) -> Figure:
    """The figure of ``approaches``' pairs; each approach's hidden layer is its entry of
    ``hidden`` where given (``core.hidden``), else ``x − sum``."""
    columns = 6 if truth is not None else 4
    rows = 1 + len(approaches)
    figure, axes = plt.subplots(
        rows, columns, figsize=(2.2 * columns, 2.3 * rows), squeeze=False, layout="constrained"
    )
    for axis in axes.flat:
        axis.set_axis_off()
    axes[0, 0].imshow(np.clip(front_rgb, 0, 1))
    axes[0, 0].set_title("front photograph", fontsize=8)
    axes[0, 1].imshow(np.clip(back_rgb, 0, 1))
    axes[0, 1].set_title("back photograph (mirrored)", fontsize=8)
    _grey(axes[0, 2], xray, "mixed X-ray")
    if truth is not None:
        _grey(axes[0, 4], truth[0], "true front X-ray")
        _grey(axes[0, 5], truth[1], "true back X-ray")
    if hidden_truth is not None:
        _grey(axes[0, 3], hidden_truth, "true hidden content")

    errors = {name: xray - (f + b) for name, (f, b) in approaches.items()} | (hidden or {})
    side_errors = {
        name: (remove_offset(f, truth[0]) - truth[0], remove_offset(b, truth[1]) - truth[1])
        for name, (f, b) in approaches.items()
        if truth is not None
    }
    spread = [np.abs(e) for e in errors.values()] + [
        np.abs(e) for p in side_errors.values() for e in p
    ]
    limit = float(max(np.percentile(s, 99) for s in spread)) or 1e-6
    mappable = None
    for row, (name, (front, back)) in enumerate(approaches.items(), start=1):
        _grey(axes[row, 0], front, f"{name}: front X-ray")
        _grey(axes[row, 1], back, f"{name}: back X-ray")
        _grey(axes[row, 2], front + back, f"{name}: sum")
        layer = "hidden" if hidden and name in hidden else "x − sum"
        mappable = _error(axes[row, 3], errors[name], f"{name}: {layer}", limit)
        if truth is not None:
            _error(axes[row, 4], side_errors[name][0], f"{name}: front error", limit)
            _error(axes[row, 5], side_errors[name][1], f"{name}: back error", limit)
    if mappable is not None:
        axes_right = axes[1:, 3:].ravel().tolist()
        figure.colorbar(mappable, ax=axes_right, shrink=0.6, label="hidden, error")
    figure.suptitle(f"panel {panel}", fontsize=10)
    return figure


def save_figure(figure: Figure, path: Path, *, compact: bool = False) -> None:
    """Write ``figure`` as PNG; ``compact`` renders it at 80 dpi in 256 colours (about a
    fifth of the bytes), for the figures a benchmark commits to git by the dozen."""
    if not compact:
        with atomic_file(path) as temporary:
            figure.savefig(temporary, format="png", dpi=110)
        plt.close(figure)
        return
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    picture = Image.open(buffer).convert("RGB").quantize(256)
    with atomic_file(path) as temporary:
        picture.save(temporary, format="PNG", optimize=True)


def display(image: np.ndarray) -> np.ndarray:
    """8-bit rendering with the 1–99 % display stretch, for looking at, not for measuring."""
    low, high = np.percentile(image, (1, 99))
    return images.to_uint8((image - low) / (high - low if high > low else 1.0))


def heat(image: np.ndarray) -> np.ndarray:
    """8-bit RGB heat map of a non-negative map (uncertainty) from 0 to its 99th percentile:
    dark where the estimates agree, bright where not to trust the result."""
    top = float(np.percentile(image, 99))
    scaled = np.clip(image / np.float32(top if top > 0 else 1.0), 0.0, 1.0)
    return matplotlib.colormaps["magma"](scaled, bytes=True)[..., :3]  # uint8: 4 B a pixel


EDGE_COLOUR = np.array([255, 0, 160], np.uint8)  # magenta: absent from grey radiographs


def registration_check(xray: np.ndarray, luminance: np.ndarray, longest: int = 1024) -> np.ndarray:
    """8-bit RGB picture, at most ``longest`` pixels on a side, of the registered photograph's
    ``luminance`` edges (Canny) in magenta over the grey X-ray: aligned, the magenta lines
    run along the X-ray's own edges of the same features."""
    h, w = xray.shape
    factor = max(1.0, max(h, w) / longest)
    size = (max(1, round(h / factor)), max(1, round(w / factor)))
    grey = display(resize(xray, size, anti_aliasing=factor > 1))
    edges = canny(resize(luminance, size, anti_aliasing=factor > 1), sigma=2.0)
    picture = np.repeat(grey[..., None], 3, axis=2)
    picture[edges] = EDGE_COLOUR
    return picture
