"""Training's panel reader: the in-memory stack is the windowed reader's, band by band."""

from __future__ import annotations

import torch

from xraysep.io import store
from xraysep.jobs import train

from conftest import ingest_chunked


def test_in_memory_stack_equals_the_windows_read_from_zarr(project, monkeypatch):
    path = ingest_chunked(project, "r", 600, 700)
    panel = store.open_panel(path, "r")
    monkeypatch.setattr(train, "IN_MEMORY_BAND", 256)  # bands of 256, 256 and 88 rows
    in_memory = train.panel_reader(panel, ("back", "front"), in_memory=True)
    windowed = train.panel_reader(panel, ("back", "front"), in_memory=False)
    whole = in_memory(slice(None), slice(None))
    assert whole.shape == (7, 600, 700) and whole.dtype == torch.float32
    assert torch.equal(whole, windowed(slice(None), slice(None)))
    assert torch.equal(whole[:3], torch.from_numpy(panel.rgb("back")).permute(2, 0, 1))
    window = slice(250, 270), slice(600, 700)  # across the first bands' seam
    assert torch.equal(in_memory(*window), windowed(*window))
