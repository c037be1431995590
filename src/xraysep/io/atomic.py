"""Write files and folders under a temporary name, then rename into place.

A crash or a kill mid-write then leaves the previous version intact and readable: readers
see either the old or the new object, never a half-written one. The temporary name sits in
the same folder so the final rename is atomic on POSIX file systems.

Temporaries are named ``.<target>.<tmp|old>-<host>-<pid>-<random>``, so that what a killed
writer left behind can be told from what a live one is still writing. :func:`recover` puts
back a previous version that a killed writer had set aside and deletes the killed writer's
temporaries; every atomic write and every reader of a panel calls it first. A write that
runs out of space (a full disk, a quota, a file-size limit) ends as one
:class:`~xraysep.errors.InputError` line naming the target, with its previous version intact.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from xraysep.errors import InputError

NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

# the host tag keeps a writer on another machine sharing the folder from being judged by this
# machine's process table
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
LEFTOVER = re.compile(
    r"^\.(?P<target>.+)\.(?P<tag>tmp|old)-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}$"
)


def _temporary_sibling(target: Path, tag: str) -> Path:
    name = f".{target.name}.{tag}-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return target.with_name(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def recover(folder: Path) -> None:
    """Clean up after writers into ``folder`` that were killed mid-write.

    Replacing a folder takes two renames (old aside, new in); a writer killed between them
    leaves the target missing and its previous version under an ``.old-`` name: that is
    renamed back, whoever set it aside (a writer still alive there is one rename from the
    end; its second rename then fails loudly and nothing is lost). Temporaries of killed
    writers (``.tmp-``, and ``.old-`` ones whose target is in place) are deleted; only this
    host's writers whose process is gone count as killed, so a write still in progress is
    never touched.
    """
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        match = LEFTOVER.match(entry.name)
        if not match:
            continue
        target = folder / match["target"]
        if match["tag"] == "old" and not target.exists():
            with contextlib.suppress(OSError):  # another process may have restored it first
                entry.rename(target)
        elif match["host"] == HOST and not _alive(int(match["pid"])):
            _remove(entry)


def out_of_space(target: Path, error: OSError) -> InputError:
    """The one line for a write of ``target`` that ran out of space."""
    return InputError(
        f"{target}: {os.strerror(error.errno)} while writing it; its previous version is "
        "intact; free some space and run again"
    )


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``target``, on failure it is removed
    (running out of space becomes one :class:`InputError` line)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target.parent)
    temporary = _temporary_sibling(target, "tmp")
    try:
        yield temporary
        temporary.replace(target)
    except OSError as error:
        if error.errno not in NO_SPACE:
            raise
        raise out_of_space(target, error) from error
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``target`` (a folder), else it goes
    (running out of space while filling it becomes one :class:`InputError` line).

    Replacing a non-empty folder takes two renames (old aside, new in), so there is a moment
    where ``target`` is missing; the old version is still on disk under the aside name until
    the new one is in place, and only then deleted. A kill in that moment is undone by
    :func:`recover`, which puts the old version back.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target.parent)
    temporary = _temporary_sibling(target, "tmp")
    temporary.mkdir()
    try:
        try:
            yield temporary
        except OSError as error:
            if error.errno not in NO_SPACE:
                raise
            raise out_of_space(target, error) from error
        if target.exists():
            aside = _temporary_sibling(target, "old")
            target.rename(aside)
            temporary.rename(target)
            shutil.rmtree(aside)
        else:
            temporary.rename(target)
    finally:
        if temporary.exists():  # a writer thread may still add files: recover() ends the job
            shutil.rmtree(temporary, ignore_errors=True)
