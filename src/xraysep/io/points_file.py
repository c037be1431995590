"""Control-point files: CSV with a header naming ``photo_x, photo_y, xray_x, xray_y``.

One row per pair of marks on the same feature: its pixel position (x = column, y = row,
``(0, 0)`` the centre of the top-left pixel) in the photograph file as it is, and in the
X-ray. Other columns (a label, a note) are allowed and ignored; blank lines are skipped.
Every problem is an :class:`InputError` naming the file and, where there is one, the line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xraysep.core.registration.points import MIN_PAIRS
from xraysep.errors import InputError

COLUMNS = ("photo_x", "photo_y", "xray_x", "xray_y")


@dataclass(frozen=True)
class ControlPoints:
    photo: np.ndarray  # (N, 2) x, y in the photograph file's pixels
    xray: np.ndarray  # (N, 2) x, y in the X-ray's pixels
    lines: list[int]  # the file's line of each pair


def _number(text: str | None, path: Path, line: int, column: str) -> float:
    if text is None or not text.strip():
        raise InputError(f"{path}: line {line}: {column} is empty")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"{path}: line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{path}: line {line}: {column} {text!r} is not a finite number")
    return value


def read_points(path: Path) -> ControlPoints:
    """The pairs of ``path``; at least :data:`MIN_PAIRS` of them."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text (CSV) file") from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise InputError(
            f"{path}: line 1: missing column{'s' * (len(missing) > 1)} {', '.join(missing)}; "
            f"the header must name {', '.join(COLUMNS)}"
        )
    reader.fieldnames = header
    rows, lines = [], []
    for row in reader:
        line = reader.line_num
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue
        rows.append([_number(row[column], path, line, column) for column in COLUMNS])
        lines.append(line)
    if len(rows) < MIN_PAIRS:
        raise InputError(
            f"{path}: {len(rows)} control point pair{'s' * (len(rows) != 1)}; "
            f"at least {MIN_PAIRS} are needed"
        )
    values = np.array(rows)
    return ControlPoints(values[:, :2], values[:, 2:], lines)
