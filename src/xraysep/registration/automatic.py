"""Automatic registration of a photograph to the X-ray by mutual information (SimpleITK).

The X-ray is the sum of both sides, so a photograph explains only part of it and looks
nothing like it in grey levels: Mattes mutual information between the photograph's luminance
and the X-ray measures how well one predicts the other without assuming a linear relation,
where correlation would not. SimpleITK's ``ImageRegistrationMethod`` optimises it over a
similarity (or affine) transform by regular-step gradient descent on a multi-resolution
pyramid, from a start that maps the photograph's centre onto the X-ray's and its size onto
the X-ray's size.

Both images are first reduced so that neither's longer side exceeds ``working_size``; their
physical coordinates keep the full-resolution X-ray's pixel as the unit (the photograph's
pixels are divided by the initial scale), so the optimiser's steps, the pyramid's smoothing
and the answer are all in X-ray pixels whatever the resolutions.

The residual is measured without truth: the registration runs a second time from a start
moved by ``restart_shift`` (a fraction of the X-ray's longer side) and ``restart_rotation``
degrees, and the residual is the RMS distance over the X-ray between the two solutions, in
X-ray pixels. It tells how well determined the optimum is (a flat or many-peaked metric gives
different answers from different starts), not how far the optimum lies from the truth; the
benchmark measures that (docs/registration.md, Accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk  # noqa: N813 (the library's own spelling)
from skimage.transform import resize

from xraysep.registration.mapping import Affine, round_trip

TRANSFORMS = ("similarity", "affine")
SMALLEST_LEVEL = 32  # pixels on the shorter side: coarser pyramid levels are dropped
SEARCH_LEVEL = 64  # pixels on the shorter side at the grid search's level, at least
SEARCH_FRACTION = 0.5  # of the pixels that the grid search's metric samples
SEED = 1  # of the metric's random sample (0 would mean the clock): same images, same answer
MIN_STEP = 1e-3  # the optimiser's last step, in X-ray pixels of shift: it has converged
RELAX = 0.5  # the step shrinks by this each time the gradient turns back


@dataclass(frozen=True)
class Settings:
    """``ingest.registration`` in ``params.yaml``."""

    transform: str
    levels: tuple[int, ...]
    iterations: int
    bins: int
    sample_fraction: float
    step: float
    working_size: int
    search_shift: float
    search_rotation: float
    search_scale: float
    restart_shift: float
    restart_rotation: float
    max_residual: float
    max_points_residual: float
    order: int
    block: int

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> Settings:
        """From the section's keys; unknown keys are ignored, missing ones raise KeyError."""
        known = {name: section[name] for name in cls.__dataclass_fields__}
        return cls(**known | {"levels": tuple(int(level) for level in known["levels"])})


@dataclass(frozen=True)
class Estimate:
    """A registration's answer: ``mapping`` sends X-ray pixels to photograph pixels."""

    mapping: Affine
    metric: float  # Mattes mutual information at the optimum (negative: lower is better)
    residual: float  # RMS distance between the two starts' solutions, X-ray pixels
    converged: bool
    stop: str  # the optimiser's own account of why it stopped at the finest level


def _reduced(image: np.ndarray, working_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The image with its longer side at most ``working_size`` (area-averaged), and the
    per-axis (x, y) factor between the original's pixels and the reduced one's."""
    h, w = image.shape
    factor = max(h, w) / working_size
    if factor <= 1:
        return image.astype(np.float32), np.ones(2)
    size = (max(1, round(h / factor)), max(1, round(w / factor)))
    small = resize(image, size, order=1, anti_aliasing=True, preserve_range=True)
    return small.astype(np.float32), np.array([w / size[1], h / size[0]])


def _itk(image: np.ndarray, spacing: np.ndarray, origin: np.ndarray) -> sitk.Image:
    result = sitk.GetImageFromArray(image)
    result.SetSpacing([float(v) for v in spacing])
    result.SetOrigin([float(v) for v in origin])
    return result


def _levels(levels: tuple[int, ...], shape: tuple[int, ...]) -> list[int]:
    """The pyramid's shrink factors that leave at least ``SMALLEST_LEVEL`` pixels."""
    kept = [level for level in levels if min(shape) / level >= SMALLEST_LEVEL]
    return kept or [1]


def _run(
    fixed: sitk.Image, moving: sitk.Image, start: sitk.Transform, settings: Settings, levels
) -> tuple[sitk.Transform, float, str, bool]:
    method = _method(settings, settings.sample_fraction)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=settings.step,
        minStep=MIN_STEP,
        numberOfIterations=settings.iterations,
        relaxationFactor=RELAX,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(levels)
    method.SetSmoothingSigmasPerLevel([level / 2 for level in levels])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(start, inPlace=False)
    found = method.Execute(fixed, moving)
    stop = method.GetOptimizerStopConditionDescription()
    converged = method.GetOptimizerIteration() < settings.iterations
    return found, method.GetMetricValue(), stop, converged


def _inner(found: sitk.Transform) -> sitk.Transform:
    """The one transform an ``Execute`` returns, as its own type (it comes wrapped)."""
    if isinstance(found, sitk.CompositeTransform):
        found = found.GetNthTransform(found.GetNumberOfTransforms() - 1)
    return found.Downcast()


def _as_affine(found: sitk.Transform) -> Affine:
    """The physical map of a similarity or affine transform."""
    inner = _inner(found)
    matrix = np.array(inner.GetMatrix()).reshape(2, 2)
    centre, translation = np.array(inner.GetCenter()), np.array(inner.GetTranslation())
    return Affine(matrix, centre + translation - matrix @ centre)


def _start(centre: np.ndarray, target: np.ndarray) -> sitk.Similarity2DTransform:
    """The similarity that maps ``centre`` onto ``target`` at unit scale."""
    start = sitk.Similarity2DTransform()
    start.SetCenter([float(v) for v in centre])
    start.SetTranslation([float(v) for v in target - centre])
    return start


def _method(settings: Settings, fraction: float) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(fraction, SEED)
    method.SetInterpolator(sitk.sitkLinear)
    return method


def _search(fixed, moving, start, settings: Settings, level: int, step: float, side: float):
    """The best similarity on a grid around ``start`` at pyramid ``level``: shifts of
    ``step`` X-ray pixels (two of the level's) up to ``search_shift`` × ``side``, rotations
    of half of ``search_rotation`` either way, scales of ``search_scale`` either way. It
    puts the gradient descent in the right basin."""
    method = _method(settings, SEARCH_FRACTION)
    shifts = max(1, round(settings.search_shift * side / step))
    method.SetOptimizerAsExhaustive([1, 2, shifts, shifts])
    rotation = np.deg2rad(settings.search_rotation) / 2
    method.SetOptimizerScales([settings.search_scale, rotation, step, step])
    method.SetShrinkFactorsPerLevel([level])
    method.SetSmoothingSigmasPerLevel([level / 2])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(start, inPlace=False)
    return _inner(method.Execute(fixed, moving))


def _descend(fixed, moving, start, settings: Settings, levels) -> tuple[Affine, float, str, bool]:
    """Gradient descent from ``start``; for an affine map, from the similarity it finds."""
    found, metric, stop, converged = _run(fixed, moving, start, settings, levels)
    mapping = _as_affine(found)
    if settings.transform == "affine":
        centre = np.array(start.GetCenter())
        refine = sitk.AffineTransform(2)
        refine.SetCenter(centre.tolist())
        refine.SetMatrix(mapping.matrix.ravel().tolist())
        refine.SetTranslation((mapping(centre[None])[0] - centre).tolist())
        found, metric, stop, converged = _run(fixed, moving, refine, settings, levels)
        mapping = _as_affine(found)
    return mapping, metric, stop, converged


def _moved(start: sitk.Similarity2DTransform, settings: Settings, side: float):
    """``start`` turned by ``restart_rotation`` and shifted diagonally by ``restart_shift``
    × ``side``: the second start that the residual compares with."""
    moved = sitk.Similarity2DTransform(start)
    shift = settings.restart_shift * side / np.sqrt(2)
    scale, angle, tx, ty = start.GetParameters()
    moved.SetParameters(
        (scale, angle + np.deg2rad(settings.restart_rotation), tx + shift, ty - shift)
    )
    return moved


def register(xray: np.ndarray, luminance: np.ndarray, settings: Settings) -> Estimate:
    """Estimate the map from X-ray pixels to photograph pixels; ``xray`` (H, W) and the
    photograph's ``luminance`` (h, w) are float images of any sizes."""
    if settings.transform not in TRANSFORMS:
        raise ValueError(f"transform {settings.transform!r}: choose {' or '.join(TRANSFORMS)}")
    (h, w), (ph, pw) = xray.shape, luminance.shape
    scale = float(np.sqrt(ph * pw / (h * w)))  # photograph pixels per X-ray pixel, to start
    small_x, fx = _reduced(xray, settings.working_size)
    small_p, fp = _reduced(luminance, settings.working_size)
    fixed = _itk(small_x, fx, (fx - 1) / 2)
    moving = _itk(small_p, fp / scale, (fp - 1) / 2 / scale)
    levels = _levels(settings.levels, small_x.shape)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    target = np.array([(pw - 1) / 2, (ph - 1) / 2]) / scale

    level = max([lv for lv in levels if min(small_x.shape) / lv >= SEARCH_LEVEL] or [1])
    step = 2 * level * float(fx.max())
    best = _search(fixed, moving, _start(centre, target), settings, level, step, max(h, w))
    mapping, metric, stop, converged = _descend(fixed, moving, best, settings, levels)
    moved = _moved(best, settings, max(h, w))
    other, _, _, converged_too = _descend(fixed, moving, moved, settings, levels)
    return Estimate(
        mapping=mapping.then(Affine(np.eye(2) * scale, np.zeros(2))),
        metric=float(metric),
        residual=round_trip(mapping, other, (h, w)),
        converged=converged and converged_too,
        stop=stop,
    )
