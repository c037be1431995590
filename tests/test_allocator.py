"""Large freed buffers go back to the operating system once ``core.allocator`` is set."""

from __future__ import annotations

import platform
import threading
from pathlib import Path

import numpy as np
import pytest

from xraysep.core.allocator import return_large_buffers


def resident_mb() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(platform.system() != "Linux", reason="glibc's allocator")
def test_freed_tile_buffers_leave_the_process() -> None:
    assert return_large_buffers()
    before = resident_mb()

    def tiles() -> None:  # what a dask worker does per tile: allocate, fill, free
        for _ in range(20):
            buffer = np.ones((1024, 1024, 4), dtype=np.float32)  # 16 MB
            del buffer

    threads = [threading.Thread(target=tiles) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert resident_mb() - before < 8
