"""One writer at a time: advisory locks on a file beside each store, model or model folder.

A writer holds an exclusive ``flock`` on ``.<target>.lock`` for as long as it writes
``target``; a reader holds a shared one for as long as it reads, so that a store or model is
never replaced under a job that is still reading it. Nobody waits: a job that cannot have its
lock stops at once with one :class:`~xraysep.errors.InputError` line naming the process that
holds it (found in the kernel's table of locks, ``/proc/locks``, where there is one). The
kernel drops a lock when its process ends, however it ends, so a killed job never leaves a
stale lock. Lock files are empty and stay; a reader of a target that does not exist creates
none (there is nothing to keep from being replaced). ``flock`` locks are local to one machine:
two machines writing one network share are not kept apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil

from xraysep.errors import InputError

KERNEL_LOCKS = Path("/proc/locks")


def lock_file(target: Path) -> Path:
    """The lock file of ``target``: ``.<name>.lock`` in the same folder."""
    return target.with_name(f".{target.name}.lock")


def holders(path: Path) -> list[int]:
    """The ids of the processes that hold a lock on the file ``path``, other than this one;
    empty where the kernel does not list its locks."""
    if not KERNEL_LOCKS.is_file():
        return []
    device = path.stat().st_dev
    key = f"{os.major(device):02x}:{os.minor(device):02x}:{path.stat().st_ino}"
    found = set()
    for line in KERNEL_LOCKS.read_text().splitlines():
        fields = line.split()  # 1: FLOCK ADVISORY WRITE <pid> <maj:min:inode> 0 EOF
        if len(fields) >= 6 and fields[1] != "->" and fields[5] == key:  # "->": waiting
            found.add(int(fields[4]))
    return sorted(found - {os.getpid(), 0, -1})


def describe(pids: list[int]) -> str:
    """``process 123 (python xraysep ingest c --overwrite)``, or ``another process``."""
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            parts = psutil.Process(pid).cmdline()
            command = " ".join(Path(p).name if p.startswith("/") else p for p in parts)
            return f"process {pid} ({textwrap.shorten(command, 100, placeholder=' …')})"
    return "another process"


@contextlib.contextmanager
def _locked(target: Path, exclusive: bool) -> Iterator[None]:
    path = lock_file(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            doing = "reading or writing" if exclusive else "writing"
            raise InputError(
                f"{target}: {describe(holders(path))} is {doing} it; try again when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def writing(target: Path) -> contextlib.AbstractContextManager[None]:
    """Hold ``target`` exclusively while writing it; refuse if anyone reads or writes it."""
    return _locked(target, exclusive=True)


@contextlib.contextmanager
def reading(target: Path) -> Iterator[None]:
    """Keep ``target`` from being replaced while reading it; refuse if someone writes it.
    A missing target is not locked (its reader will say that it is missing)."""
    if not target.exists():
        yield
        return
    with _locked(target, exclusive=False):
        yield
