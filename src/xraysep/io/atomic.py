"""Write files and folders under a temporary name, then rename into place.

A crash or a kill mid-write then leaves the previous version intact and readable: readers
see either the old or the new object, never a half-written one. The temporary name sits in
the same folder so the final rename is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path


def _temporary_sibling(target: Path, tag: str) -> Path:
    return target.with_name(f".{target.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``target``, on failure it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(target, "tmp")
    try:
        yield temporary
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``target`` (a folder), else it goes.

    Replacing a non-empty folder takes two renames (old aside, new in), so there is a moment
    where ``target`` is missing; the old version is still on disk under the aside name until
    the new one is in place, and only then deleted.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_sibling(target, "tmp")
    temporary.mkdir()
    try:
        yield temporary
        if target.exists():
            aside = _temporary_sibling(target, "old")
            target.rename(aside)
            temporary.rename(target)
            shutil.rmtree(aside)
        else:
            temporary.rename(target)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
