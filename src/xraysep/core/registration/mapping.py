"""An affine map between two pixel frames, and how far two such maps lie apart.

Coordinates are ``(x, y)`` = (column, row), with the centre of the top-left pixel at
``(0, 0)``: the convention of SimpleITK's index space and of scikit-image's transforms, so
estimates from either library need no reordering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Affine:
    """``point ↦ matrix @ point + offset`` on (x, y) pixel coordinates."""

    matrix: np.ndarray  # (2, 2)
    offset: np.ndarray  # (2,)

    @classmethod
    def from_homogeneous(cls, params: np.ndarray) -> Affine:
        """From a 3×3 homogeneous matrix (scikit-image's ``.params``)."""
        return cls(np.asarray(params[:2, :2], float), np.asarray(params[:2, 2], float))

    @classmethod
    def similarity(cls, scale: float, degrees: float, offset: tuple[float, float]) -> Affine:
        """Scale, then rotate by ``degrees`` (from +x towards +y), then shift by ``offset``."""
        angle = np.deg2rad(degrees)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        return cls(scale * rotation, np.asarray(offset, float))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2) points."""
        return np.asarray(points, float) @ self.matrix.T + self.offset

    def inverse(self) -> Affine:
        matrix = np.linalg.inv(self.matrix)
        return Affine(matrix, -matrix @ self.offset)

    def then(self, other: Affine) -> Affine:
        """This map followed by ``other``."""
        return Affine(other.matrix @ self.matrix, other.matrix @ self.offset + other.offset)

    def parameters(self, source_shape: tuple[int, int], target_shape: tuple[int, int]) -> dict:
        """Scale (target pixels per source pixel; the geometric mean of the axes for an affine
        map), rotation in degrees and shift: where the source's centre lands, relative to the
        target's centre, in target pixels."""
        m = self.matrix
        centre = np.array([(source_shape[1] - 1) / 2, (source_shape[0] - 1) / 2])
        target = np.array([(target_shape[1] - 1) / 2, (target_shape[0] - 1) / 2])
        return {
            "scale": float(np.sqrt(abs(np.linalg.det(m)))),
            "rotation_degrees": float(np.rad2deg(np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1]))),
            "shift": [float(v) for v in self(centre[None])[0] - target],
        }

    def as_dict(self) -> dict[str, list]:
        return {"matrix": self.matrix.tolist(), "offset": self.offset.tolist()}


def grid(shape: tuple[int, int], points: int = 64) -> np.ndarray:
    """(N, 2) points evenly covering an image of ``shape`` = (H, W), corners included."""
    ys = np.linspace(0, shape[0] - 1, min(points, shape[0]))
    xs = np.linspace(0, shape[1] - 1, min(points, shape[1]))
    x, y = np.meshgrid(xs, ys)
    return np.column_stack([x.ravel(), y.ravel()])


def rms_distance(a: Affine, b: Affine, shape: tuple[int, int]) -> float:
    """RMS over an image of ``shape`` of the distance between where ``a`` and ``b`` send each
    of its points, in the pixels of the frame they map into."""
    points = grid(shape)
    return float(np.sqrt(np.mean(np.sum((a(points) - b(points)) ** 2, axis=1))))


def round_trip(a: Affine, b: Affine, shape: tuple[int, int]) -> float:
    """How far apart two maps out of an image of ``shape`` are, in that image's own pixels:
    the RMS distance of ``b``'s inverse after ``a`` from the identity."""
    identity = Affine(np.eye(2), np.zeros(2))
    return rms_distance(a.then(b.inverse()), identity, shape)
