"""Ingest through the real CLI: the zarr v3 store, its provenance, and refusals of bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

RNG = np.random.default_rng(0)


@pytest.fixture
def raw(project):
    """A small real-looking scan: 8-bit photographs and a 16-bit X-ray."""
    folder = project / "scans"
    folder.mkdir()
    front = RNG.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    back = RNG.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    xray = RNG.integers(1000, 60000, (40, 60), dtype=np.uint16)
    Image.fromarray(front).save(folder / "front.png")
    Image.fromarray(back).save(folder / "back.jpg", quality=100)
    tifffile.imwrite(folder / "xray.tif", xray)
    return folder, front, back, xray


def args(folder, **overrides):
    """Random images, so not registrable: taken as already in the X-ray's frame."""
    files = {"front": "front.png", "back": "back.jpg", "xray": "xray.tif"} | overrides
    return [
        "--no-register",
        *(item for key, name in files.items() for item in (f"--{key}", folder / name)),
    ]


def test_ingest_writes_a_sharded_zarr_v3_store(project, cli, raw):
    folder, front, _, xray = raw
    code, _, err = cli("ingest", "p1", *args(folder))
    assert code == 0, err
    store = project / "data" / "panels" / "p1.zarr"
    assert json.loads((store / "zarr.json").read_text())["zarr_format"] == 3
    group = zarr.open_group(store, mode="r")
    np.testing.assert_array_equal(group["front"][:], front)
    jpeg = np.asarray(Image.open(folder / "back.jpg"))
    np.testing.assert_array_equal(group["back"][:], jpeg[:, ::-1])  # mirrored into the X-ray frame
    stretched = group["xray"][:]
    assert stretched.dtype == np.float32 and stretched.min() == 0 and stretched.max() == 1
    assert group["xray"].chunks == (512, 512) and group["xray"].shards == (512, 512)
    attrs = group.attrs["xraysep"]
    low, high = np.percentile(xray, [1, 99])
    assert attrs["stretch"]["low"] == pytest.approx(low) and attrs["stretch"]["high"] == (
        pytest.approx(high)
    )
    assert attrs["mirrored_back"] is True
    assert attrs["sources"]["xray"]["path"] == "scans/xray.tif"
    assert len(attrs["sources"]["front"]["sha256"]) == 64
    # few files: one shard per array for a small panel
    assert len([p for p in store.rglob("*") if p.is_file() and p.name != "zarr.json"]) == 3


def test_no_mirror_keeps_the_back_as_given(project, cli, raw):
    folder, *_ = raw
    assert cli("ingest", "p1", *args(folder), "--no-mirror-back")[0] == 0
    group = zarr.open_group(project / "data" / "panels" / "p1.zarr", mode="r")
    np.testing.assert_array_equal(group["back"][:], np.asarray(Image.open(folder / "back.jpg")))
    assert group.attrs["xraysep"]["mirrored_back"] is False


def bad_size(folder):
    Image.fromarray(np.zeros((41, 60, 3), np.uint8)).save(folder / "small.png")
    return {"back": "small.png"}, "small.png: size 60×41 does not match the X-ray"


def rgb_xray(folder):
    return {"xray": "front.png"}, "front.png: has shape (40, 60, 3); expected a grey X-ray"


def grey_front(folder):
    return {"front": "xray.tif"}, "xray.tif: is a grey image; expected an RGB photograph"


def truncated(folder):
    data = (folder / "xray.tif").read_bytes()
    (folder / "cut.tif").write_bytes(data[: len(data) // 2])
    return {"xray": "cut.tif"}, "cut.tif: cannot decode image"


def missing(folder):
    return {"front": "nothere.png"}, "nothere.png: no such file"


@pytest.mark.parametrize("case", [bad_size, rgb_xray, grey_front, truncated, missing])
def test_bad_input_is_one_line_and_leaves_nothing(project, cli, raw, case):
    folder, *_ = raw
    overrides, message = case(folder)
    code, _, err = cli("ingest", "p1", *args(folder, **overrides))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (project / "data" / "panels").exists() or not any(
        (project / "data" / "panels").iterdir()
    )


def test_bad_panel_names(project, cli, raw):
    folder, *_ = raw
    for name in ("a/b", "..", "../x", ".hidden", ""):
        code, _, err = cli("ingest", name, *args(folder))
        assert code == 2 and "panel name" in err, name
    assert not (project / "data").exists()


def test_existing_panel_needs_overwrite(project, cli, raw):
    folder, *_ = raw
    assert cli("ingest", "p1", *args(folder))[0] == 0
    code, _, err = cli("ingest", "p1", *args(folder))
    assert code == 2 and "exists; pass --overwrite" in err
    assert cli("ingest", "p1", *args(folder), "--overwrite")[0] == 0
