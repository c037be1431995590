"""Give freed buffers back to the operating system while a whole panel is separated.

Each tile allocates and frees buffers of a few to tens of megabytes (its stack, the network's
activations, the output) on several threads. glibc's malloc raises its mmap threshold each
time such a buffer is freed, so the later ones come from per-thread heaps, and freed heap
memory that is not at a heap's top stays in the process: resident memory then grows with the
number of tiles, not with the tiles in flight (measured in ``benchmarks/inference_scaling.py``:
a 10-megapixel panel peaked 420 MB higher). Fixing the threshold keeps large buffers on
``mmap``, which ``free`` unmaps at once. dask.distributed's nanny sets the same knob (through
``MALLOC_TRIM_THRESHOLD_``) on its workers for the same reason.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
THRESHOLD = 1 << 20  # bytes: tiles' buffers are larger, Python's small objects far smaller


@functools.cache
def return_large_buffers() -> bool:
    """Serve allocations of ``THRESHOLD`` bytes and more by ``mmap`` from now on, and trim
    the heaps above it; True where glibc took the setting (Linux), False elsewhere (macOS's
    allocator returns large blocks by itself)."""
    if platform.system() != "Linux" or not (name := ctypes.util.find_library("c")):
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):  # musl has no mallopt
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, THRESHOLD)
    )
