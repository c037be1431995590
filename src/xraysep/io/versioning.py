"""Which code and which data a result came from: the git commit and DVC's hash of the panel.

The data hash is computed with DVC's own hashing library the way ``dvc`` records a directory
output in ``dvc.lock`` (``<md5>.dir``), so an MLflow run can be matched to the DVC-versioned
panel it used, whether or not the panel is a DVC output.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from dvc_data.hashfile.build import build
from dvc_data.hashfile.db import HashFileDB
from dvc_objects.fs.local import LocalFileSystem


def git_commit(root: Path) -> str | None:
    """The commit checked out at ``root``, with ``-dirty`` when tracked files have changes;
    None outside a git work tree."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def data_hash(path: Path) -> str:
    """DVC md5 of a file or directory (``<md5>.dir`` for a directory), as in ``dvc.lock``."""
    fs = LocalFileSystem()
    with tempfile.TemporaryDirectory() as scratch:
        _, _, obj = build(HashFileDB(fs, scratch), str(path), fs, "md5", dry_run=True)
    return obj.hash_info.value
