"""The named factors that make a synthetic panel's X-ray more than a function of its colours.

On a real panel the photograph sees the top layer while the X-ray sees every layer, the
support and the capture's own distortions (``docs/benchmarks.md``, "Physics"). Each factor is
one such cause with a strength in a documented range; 0 leaves the panel colour-determined.
The painting's factors act in :mod:`xraysep.core.physics`, the capture's in
:mod:`xraysep.core.capture`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from xraysep.errors import InputError


@dataclass(frozen=True)
class Factor:
    """One cause of X-ray content that the photographs do not determine."""

    high: float  # strengths run from 0 (absent) to this
    unit: str
    what: str  # what the strength means, in a few words


FACTORS: dict[str, Factor] = {
    "metamerism": Factor(0.5, "area fraction", "regions whose pigments are low-lead metamers"),
    "layering": Factor(0.5, "area fraction", "glazes over an absorbing underlayer"),
    "underpainting": Factor(1.0, "lead-white depth", "an earlier composition under the front"),
    "ground": Factor(1.0, "relative variation", "uneven ground and preparation layers"),
    "support": Factor(1.0, "depth scale", "cradle battens, nails and a fill"),
    "misregistration": Factor(4.0, "pixels", "photographs shifted and rotated against the X-ray"),
    "white-balance": Factor(1.0, "relative", "front and back lit and exposed differently"),
    "jpeg": Factor(1.0, "1 - quality/100", "JPEG-compressed photographs"),
    "film-response": Factor(1.0, "blend", "an S-shaped film or detector response"),
}
PAINT = ("metamerism", "layering", "underpainting", "ground", "support")
CAPTURE = ("misregistration", "white-balance", "jpeg", "film-response")


def check_factor(name: str, strength: float) -> float:
    """``strength`` as a float, or a one-line error naming the factor and what is allowed."""
    if name not in FACTORS:
        raise InputError(f"factor {name!r}: unknown; choose one of {', '.join(FACTORS)}")
    factor = FACTORS[name]
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= factor.high:
        raise InputError(
            f"factor {name!r}: strength {strength!r} is outside [0, {factor.high:g}] "
            f"({factor.unit}: {factor.what})"
        )
    return value


def check_factors(factors: Mapping[str, float] | None) -> dict[str, float]:
    """Validated strengths of the named factors; absent factors are 0."""
    return {name: check_factor(name, value) for name, value in (factors or {}).items()}


def parse_factor(text: str) -> tuple[str, float]:
    """``NAME=STRENGTH`` from the command line, checked."""
    name, sep, value = text.partition("=")
    if not sep:
        raise InputError(f"factor {text!r}: write NAME=STRENGTH, e.g. metamerism=0.5")
    return name, check_factor(name, value)
