"""Automatic registration of the photographs to the X-ray by mutual information (SimpleITK).

The X-ray is the sum of both sides, so a photograph explains only part of it and looks
nothing like it in grey levels: Mattes mutual information measures how well one image
predicts the other without assuming a linear relation, where correlation would not.
SimpleITK's ``ImageRegistrationMethod`` optimises it by regular-step gradient descent on a
multi-resolution pyramid. Two stages (docs/registration.md, How it works):

1. **Coarse**, each photograph alone: its luminance against the X-ray, a similarity map
   found by a grid search at a coarse pyramid level (it puts the descent in the right basin)
   and then gradient descent down the pyramid.
2. **Refinement**, ``refinements`` rounds over both photographs together: a colour model
   (``_ColourModel``: each side's part of the X-ray a cubic polynomial in its registered RGB,
   the parts combined by a sum and a product term, fitted by least squares) predicts each
   side's part; each photograph's predicted part is registered to what the X-ray leaves for
   that side once the other side's predicted part is taken out, on the two finest pyramid
   levels, with the chosen ``transform`` (similarity or affine). Taking out the other side
   reduces the bias it puts on the optimum (docs/registration.md, Accuracy).

Images are first brought to one pixel size (``working.py``); physical coordinates are X-ray
pixels for the X-ray and photograph pixels divided by the size ratio for a photograph, so the
optimiser's steps are in X-ray pixels whatever the resolutions.

The residual is measured without truth: everything runs a second time from a start moved by
``restart_shift`` (a share of the X-ray's longer side) and ``restart_rotation`` degrees, and
the residual is the RMS distance over the X-ray between the two answers, in X-ray pixels. It
tells how well determined the optimum is (a flat or many-peaked metric gives different
answers from different starts), not how far it lies from the truth; the benchmark measures
that (docs/registration.md, Accuracy).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk  # noqa: N813 (the library's own spelling)

from xraysep.core.registration.mapping import Affine, round_trip
from xraysep.core.registration.resample import covered, resample
from xraysep.core.registration.working import LUMINANCE, Working, working, xray_spacing
from xraysep.settings import Registration

SMALLEST_LEVEL = 32  # pixels on the shorter side: coarser pyramid levels are dropped
SEARCH_LEVEL = 64  # pixels on the shorter side at the grid search's level: 64 to 127
SEARCH_FRACTION = 0.5  # of the pixels that the grid search's metric samples
SEED = 1  # of the metric's random sample (0 would mean the clock)
MIN_STEP = 1e-3  # the optimiser's last step, in X-ray pixels of shift: it has converged
RELAX = 0.5  # the step shrinks by this each time the gradient turns back
THREADS = 1  # per descent: threads sum in varying order, so answers varied from run to run
MODEL_SAMPLES = 250_000  # pixels at most that the colour model is fitted on
MODEL_STEPS = 8  # Gauss–Newton steps of the colour model's fit with its product term
PREDICT_ROWS = 128  # rows of a working copy whose colour model is evaluated at a time
MIN_PASSED = 0.1  # share of a side's contrast that the other side lets through, at least


@dataclass(frozen=True)
class Estimate:
    """A registration's answer: ``mapping`` sends X-ray pixels to photograph pixels."""

    mapping: Affine
    metric: float  # Mattes mutual information at the optimum (negative: lower is better)
    residual: float  # RMS distance between the two starts' answers, X-ray pixels
    converged: bool  # every descent stopped before its last allowed iteration
    iterations: int  # of the last descent, at the finest level
    stop: str  # the optimiser's own account of why it stopped there


class RegistrationFailedError(Exception):
    """The ``side``'s photograph offers nothing to register (constant), or SimpleITK gave up
    on it (``reason``: its last line)."""

    def __init__(self, side: str, reason: str) -> None:
        super().__init__(f"{side}: {reason}")
        self.side, self.reason = side, reason


@contextmanager
def _giving_up(side: str) -> Iterator[None]:
    """SimpleITK's exceptions (e.g. no sample of the X-ray lands on the photograph) as
    :class:`RegistrationFailedError`."""
    try:
        yield
    except RuntimeError as failure:
        raise RegistrationFailedError(side, str(failure).strip().splitlines()[-1]) from None


@contextmanager
def _threads(count: int) -> Iterator[None]:
    """SimpleITK's global default thread count set to ``count`` for the block: the metric's
    and the pyramid filters' threads follow it, not the registration method's own setting."""
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(count)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


@dataclass
class _Side:
    """One photograph during registration."""

    copy: Working  # float RGB at about the X-ray copy's pixel size
    scale: float  # photograph pixels per X-ray pixel, to start
    moving: Working  # ``copy`` with the physical frame SimpleITK sees (spacing / scale)
    answers: list[Affine]  # X-ray pixels -> moving's physical frame, one per start
    fit: tuple[float, bool, int, str] = (0.0, True, 0, "")  # metric, converged, iterations, stop

    def to_photo(self, physical: Affine) -> Affine:
        """X-ray pixels -> photograph pixels, from a map into the physical frame."""
        return physical.then(Affine(np.eye(2) * self.scale, np.zeros(2)))


def _itk(image: np.ndarray, frame: Working) -> sitk.Image:
    result = sitk.GetImageFromArray(np.ascontiguousarray(image, np.float32))
    result.SetSpacing([frame.spacing] * 2)
    result.SetOrigin([frame.origin] * 2)
    return result


def _levels(levels: list[int], shape: tuple[int, ...]) -> list[int]:
    """The pyramid's shrink factors that leave at least ``SMALLEST_LEVEL`` pixels."""
    kept = [level for level in levels if min(shape) / level >= SMALLEST_LEVEL]
    return kept or [1]


def _method(
    settings: Registration, fraction: float, levels: list[int], fixed: sitk.Image
) -> sitk.ImageRegistrationMethod:
    """The metric samples ``fraction`` of each level's pixels of ``fixed``, and at most
    ``max_samples``: more pixels only slow each step down, they do not move the optimum."""
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    pixels = [np.prod([size // level for size in fixed.GetSize()]) for level in levels]
    shares = [min(fraction, settings.max_samples / count) for count in pixels]
    method.SetMetricSamplingPercentagePerLevel(shares, SEED)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetShrinkFactorsPerLevel(levels)
    method.SetSmoothingSigmasPerLevel([level / 2 for level in levels])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return method


def _as_affine(found: sitk.Transform) -> Affine:
    """The physical map of the similarity or affine transform an ``Execute`` returns."""
    if isinstance(found, sitk.CompositeTransform):
        found = found.GetNthTransform(found.GetNumberOfTransforms() - 1)
    inner = found.Downcast()
    matrix = np.array(inner.GetMatrix()).reshape(2, 2)
    centre, translation = np.array(inner.GetCenter()), np.array(inner.GetTranslation())
    return Affine(matrix, centre + translation - matrix @ centre)


def _transform(mapping: Affine, centre: np.ndarray, kind: str) -> sitk.Transform:
    """``mapping`` as SimpleITK's ``kind`` of transform about ``centre`` (a similarity keeps
    the mapping's scale and rotation and drops any shear)."""
    translation = (mapping(centre[None])[0] - centre).tolist()
    if kind == "affine":
        transform = sitk.AffineTransform(2)
        transform.SetMatrix(mapping.matrix.ravel().tolist())
    else:
        m = mapping.matrix
        transform = sitk.Similarity2DTransform()
        transform.SetScale(float(np.sqrt(abs(np.linalg.det(m)))))
        transform.SetAngle(float(np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])))
    transform.SetCenter(centre.tolist())
    transform.SetTranslation(translation)
    return transform


def _descend(
    fixed: sitk.Image,
    moving: sitk.Image,
    start: sitk.Transform,
    settings: Registration,
    levels: list[int],
) -> tuple[Affine, tuple[float, bool, int, str]]:
    """Gradient descent from ``start`` down ``levels``."""
    method = _method(settings, settings.sample_fraction, levels, fixed)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=settings.step,
        minStep=MIN_STEP,
        numberOfIterations=settings.iterations,
        relaxationFactor=RELAX,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(start, inPlace=False)
    found = method.Execute(fixed, moving)
    iterations = method.GetOptimizerIteration()
    fit = (
        method.GetMetricValue(),
        iterations < settings.iterations,
        iterations,
        method.GetOptimizerStopConditionDescription(),
    )
    return _as_affine(found), fit


def _search(
    fixed: sitk.Image,
    moving: sitk.Image,
    start: Affine,
    centre: np.ndarray,
    settings: Registration,
    level: int,
    step: float,
) -> Affine:
    """The best similarity on a grid around ``start`` at pyramid ``level``: shifts of
    ``step`` X-ray pixels up to ``search_shift`` × the longer side, rotations of half of
    ``search_rotation`` either way, scales of ``search_scale`` either way."""
    method = _method(settings, SEARCH_FRACTION, [level], fixed)
    side = 2 * max(centre) + 1
    shifts = max(1, round(settings.search_shift * side / step))
    method.SetOptimizerAsExhaustive([1, 2, shifts, shifts])
    rotation = np.deg2rad(settings.search_rotation) / 2
    method.SetOptimizerScales([settings.search_scale, rotation, step, step])
    method.SetInitialTransform(_transform(start, centre, "similarity"), inPlace=False)
    return _as_affine(method.Execute(fixed, moving))


def _moved(mapping: Affine, centre: np.ndarray, settings: Registration) -> Affine:
    """``mapping`` after a turn of ``restart_rotation`` about ``centre`` and a diagonal shift
    of ``restart_shift`` × the longer side: the second start that the residual compares."""
    turn = Affine.similarity(1.0, settings.restart_rotation, (0.0, 0.0))
    shift = settings.restart_shift * (2 * max(centre) + 1) / np.sqrt(2)
    about = Affine(turn.matrix, centre - turn.matrix @ centre + np.array([shift, -shift]))
    return about.then(mapping)


def _features(rgb: np.ndarray) -> np.ndarray:
    """(…, 19) monomials of R, G, B of degree 1 to 3: the colour model's terms."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    terms = [r, g, b, r * r, g * g, b * b, r * g, r * b, g * b]
    terms += [r**3, g**3, b**3, r * r * g, r * r * b, g * g * r, g * g * b, b * b * r, b * b * g]
    return np.stack([*terms, r * g * b], axis=-1)


def _predict(rgb: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The polynomial with ``weights`` of each pixel's RGB, a band of rows at a time (the
    monomials of a whole working copy would take 19 times its memory)."""
    out = np.empty(rgb.shape[:-1], np.float32)
    for row in range(0, rgb.shape[0], PREDICT_ROWS):
        out[row : row + PREDICT_ROWS] = _features(rgb[row : row + PREDICT_ROWS]) @ weights
    return out


@dataclass(frozen=True)
class _ColourModel:
    """The X-ray as ``constant + p + q + product · p · q``, where ``p`` and ``q`` are the two
    sides' parts, cubic polynomials in each side's registered RGB (``weights``). With
    ``product`` 0 the sides add, as on film whose density is the summed absorption; with
    ``product`` < 0 they combine as Beer–Lambert transmissions (``1 − e^{−a−b} = u + v − uv``),
    which a sum leaves in the residual where it biases the registration of the fainter side.
    Shifting or scaling the X-ray keeps the model's form, so a stretched X-ray fits as well."""

    constant: float
    product: float
    weights: dict[str, np.ndarray]

    def alone(self, xray: np.ndarray, side: str, parts: dict[str, np.ndarray]) -> np.ndarray:
        """What ``side``'s part of ``xray`` is, given the other side's predicted part."""
        (other,) = (part for key, part in parts.items() if key != side)
        passed = np.maximum(1 + self.product * other, MIN_PASSED)
        return ((xray - self.constant - other) / passed).astype(np.float32)


def _colour_model(
    xray: np.ndarray, registered: dict[str, np.ndarray], inside: np.ndarray
) -> _ColourModel:
    """The least-squares :class:`_ColourModel` of the X-ray in the two sides' ``registered``
    RGB, over the pixels ``inside`` both photographs: the additive fit, then Gauss–Newton
    steps on all weights with the product term."""
    stride = max(1, int(np.ceil(inside.sum() / MODEL_SAMPLES)))
    pick = np.flatnonzero(inside.ravel())[::stride]
    target = xray.ravel()[pick].astype(np.float64)
    (a, first), (b, second) = (
        (side, _features(image.reshape(-1, 3)[pick]).astype(np.float64))
        for side, image in registered.items()
    )
    ones, count = np.ones((pick.size, 1)), first.shape[1]
    theta = np.linalg.lstsq(np.concatenate([ones, first, second], 1), target, rcond=None)[0]
    theta = np.append(theta, 0.0)  # constant, first's weights, second's weights, product
    for _ in range(MODEL_STEPS):
        p, q = first @ theta[1 : 1 + count], second @ theta[1 + count : -1]
        product = theta[-1]
        residual = target - (theta[0] + p + q + product * p * q)
        jacobian = [ones, first * (1 + product * q)[:, None], second * (1 + product * p)[:, None]]
        theta += np.linalg.lstsq(np.concatenate([*jacobian, (p * q)[:, None]], 1), residual)[0]
    weights = {a: theta[1 : 1 + count], b: theta[1 + count : -1]}
    return _ColourModel(float(theta[0]), float(theta[-1]), weights)


def register(
    xray: np.ndarray,
    photos: dict[str, np.ndarray],
    settings: Registration,
    known: dict[str, Affine] | None = None,
) -> dict[str, Estimate]:
    """Estimate, for each photograph of ``photos`` (side -> (h, w, 3) RGB, any size and
    integer type) not in ``known``, the map from pixels of the (H, W) float ``xray`` to its
    pixels. ``known`` maps (from control points) of the other sides take part in the colour
    model as they are. Raises :class:`RegistrationFailedError` naming the side it gives up on."""
    with _threads(THREADS), ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return _register(xray, photos, settings, known or {}, pool)


def _register(
    xray: np.ndarray,
    photos: dict[str, np.ndarray],
    settings: Registration,
    known: dict[str, Affine],
    pool: ThreadPoolExecutor,
) -> dict[str, Estimate]:
    """:func:`register`'s work; the independent descents (each side's coarse stage, each
    side's and start's refinement) run side by side on ``pool``, each on one thread, so the
    answers do not depend on the scheduling."""
    fixed_copy = working(xray, xray_spacing(xray.shape, settings.working_size))
    fixed = _itk(fixed_copy.image, fixed_copy)
    levels = _levels(settings.levels, fixed_copy.image.shape)
    centre = np.array([xray.shape[1] - 1, xray.shape[0] - 1]) / 2
    sides: dict[str, _Side] = {}
    for side, photo in photos.items():
        scale = float(np.sqrt(photo.shape[0] * photo.shape[1] / (xray.shape[0] * xray.shape[1])))
        copy = working(photo, fixed_copy.spacing * scale)
        moving = Working(copy.image, copy.spacing / scale, copy.origin / scale)
        to_moving = Affine(np.eye(2) / scale, np.zeros(2))
        sides[side] = _Side(
            copy, scale, moving, [known[side].then(to_moving)] if side in known else []
        )
    coarse = {
        side: pool.submit(_coarse, side, state, fixed, fixed_copy, centre, levels, settings)
        for side, state in sides.items()
        if side not in known
    }
    for side, done in coarse.items():
        with _giving_up(side):
            done.result()
    for _ in range(settings.refinements):
        _refine(sides, known, fixed_copy, centre, levels[-2:], settings, pool)
    return {
        side: Estimate(
            mapping=state.to_photo(state.answers[0]),
            metric=state.fit[0],
            residual=round_trip(*state.answers, xray.shape),
            converged=state.fit[1],
            iterations=state.fit[2],
            stop=state.fit[3],
        )
        for side, state in sides.items()
        if side not in known
    }


def _summary(fits: list[tuple[float, bool, int, str]]) -> tuple[float, bool, int, str]:
    """The first start's metric, iterations and stop; converged when every start did."""
    metric, _, iterations, stop = fits[0]
    return metric, all(fit[1] for fit in fits), iterations, stop


def _coarse(
    side: str,
    state: _Side,
    fixed: sitk.Image,
    fixed_copy: Working,
    centre: np.ndarray,
    levels: list[int],
    settings: Registration,
) -> None:
    """The two starts' similarity maps of the photograph's luminance alone."""
    luminance = state.moving.image @ LUMINANCE
    if float(luminance.std()) < 1e-6:
        raise RegistrationFailedError(side, "the photograph is constant: nothing to register")
    moving = _itk(luminance, state.moving)
    target = (np.array([state.copy.image.shape[1], state.copy.image.shape[0]]) - 1) / 2
    target = target * state.moving.spacing + state.moving.origin
    start = Affine(np.eye(2), target - centre)
    level = 2 ** int(np.log2(max(1, min(fixed_copy.image.shape) // SEARCH_LEVEL)))
    best = _search(fixed, moving, start, centre, settings, level, 2 * level * fixed_copy.spacing)
    fits = [
        _descend(fixed, moving, _transform(begin, centre, "similarity"), settings, levels)
        for begin in (best, _moved(best, centre, settings))
    ]
    state.answers = [answer for answer, _ in fits]
    state.fit = _summary([fit for _, fit in fits])


def _refine(
    sides: dict[str, _Side],
    known: dict[str, Affine],
    fixed_copy: Working,
    centre: np.ndarray,
    levels: list[int],
    settings: Registration,
    pool: ThreadPoolExecutor,
) -> None:
    """One round: the colour model from the first answers, then each start's answer again
    on the photograph's predicted part against the X-ray less the other sides', every
    side's and start's descent on ``pool``."""
    shape = fixed_copy.image.shape
    registered, inside = {}, np.ones(shape, bool)
    for side, state in sides.items():
        grid = fixed_copy.to_original().then(state.answers[0])
        to_copy = grid.then(state.moving.to_original().inverse())
        registered[side] = resample(state.copy.image, to_copy, shape, 1, settings.block)
        inside &= covered(to_copy, shape, state.copy.image.shape)
    model = _colour_model(fixed_copy.image, registered, inside)
    parts = {side: _predict(image, model.weights[side]) for side, image in registered.items()}
    descents = {}
    for side, state in sides.items():
        if side in known:
            continue
        target = _itk(model.alone(fixed_copy.image, side, parts), fixed_copy)
        moving = _itk(_predict(state.copy.image, model.weights[side]), state.moving)
        descents[side] = [
            pool.submit(
                _descend,
                target,
                moving,
                _transform(answer, centre, settings.transform),
                settings,
                levels,
            )
            for answer in state.answers
        ]
    for side, started in descents.items():
        with _giving_up(side):
            fits = [done.result() for done in started]
        sides[side].answers = [answer for answer, _ in fits]
        sides[side].fit = _summary([fit for _, fit in fits])
