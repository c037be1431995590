"""Give freed buffers back to the operating system while a whole panel is separated.

Each tile allocates and frees buffers of a few to tens of megabytes (its stack, the network's
activations, the output) on several threads. glibc's malloc raises its mmap threshold each
time such a buffer is freed, so later ones come from per-thread heaps, and freed heap memory
stays in the process: resident memory then grows with the number of tiles, not with the
tiles in flight (a 100-megapixel panel peaked at 2.5 GB). ``malloc_trim`` after each tile
hands every heap's free pages back. Keeping large buffers on ``mmap`` instead (``mallopt``)
bounds memory as well but made separation 50-70 % slower: every allocation page-faults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc where there is one; macOS's allocator returns large blocks by itself, and musl
    has no ``malloc_trim``."""
    if platform.system() != "Linux" or not (name := ctypes.util.find_library("c")):
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "malloc_trim") else None


def release_freed_memory() -> None:
    """Return the heaps' free pages to the operating system, where there is glibc to ask."""
    if (libc := _libc()) is not None:
        libc.malloc_trim(0)
