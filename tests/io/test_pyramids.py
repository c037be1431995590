"""Results that viewers open: every separated image and the panel's inputs are OME-Zarr (NGFF
0.5) pyramids that ome-zarr-py reads, `xraysep export` writes tiled, pyramidal OME-TIFFs
equal to them, and damage to a small level is found like damage anywhere else."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

from xraysep.core.pyramid import halve, level_sizes
from xraysep.io import pyramid
from xraysep.jobs.verify import FAIL, verify

from conftest import build_separated, chunk_bytes, enter_copy, flip

IMAGES = ("front_xray", "back_xray", "hidden", "inputs/front", "inputs/back", "inputs/xray")
SIZE = (600, 1100)  # three levels: 600×1100, 300×550, 150×275


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_separated(tmp_path_factory.mktemp("pyramids"), *SIZE)


@pytest.fixture
def results(built, tmp_path, monkeypatch):
    """A copy of the built project, entered; returns its results group."""
    root = enter_copy(built, tmp_path, monkeypatch)
    (version,) = (root / "data" / "separated" / "c.zarr").glob("combine-*")
    return version


def test_halving_block_by_block_equals_the_whole_image(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    image = rng.random((601, 551), dtype=np.float32)
    rgb = rng.integers(0, 256, (3, 601, 551), dtype=np.uint8)
    monkeypatch.setattr(pyramid, "LEVEL_SHARD", 64)  # many blocks per level, odd edges
    group = zarr.open_group(tmp_path / "t.zarr", mode="w", zarr_format=3)
    for name, array in (("grey", image), ("rgb", rgb)):
        channels = 3 if array.ndim == 3 else None
        levels = pyramid.create_image(group, name, (601, 551), array.dtype, channels, 128)
        levels[0][...] = array
        pyramid.fill_levels(levels)
        assert [level.shape[-2:] for level in levels] == [(601, 551), (301, 276)]
        np.testing.assert_array_equal(levels[1][...], halve(array))
    edge = np.array([[1.0, 3.0, 5.0]], np.float32)  # an odd column is averaged with itself
    np.testing.assert_array_equal(halve(edge), [[2.0, 5.0]])
    assert level_sizes((600, 1100)) == [(600, 1100), (300, 550), (150, 275)]


def test_ome_zarr_py_reads_every_image_with_its_levels_and_scales(results):
    group = zarr.open_group(results, mode="r")
    for key in IMAGES:
        (node, *_) = Reader(parse_url(str(results / key)))()
        shapes = [tuple(level.shape[-2:]) for level in node.data]
        assert shapes == [(600, 1100), (300, 550), (150, 275)], key
        rgb = key in ("inputs/front", "inputs/back")
        assert [axis["name"] for axis in node.metadata["axes"]] == ["c", "y", "x"][1 - rgb :]
        scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
        assert scales == [[1.0] * rgb + [2.0**k] * 2 for k in range(3)], key
        np.testing.assert_array_equal(np.asarray(node.data[0]), group[f"{key}/0"][...])
        for above, level in zip(node.data, node.data[1:], strict=False):
            np.testing.assert_array_equal(np.asarray(level), halve(np.asarray(above)))
    panel = zarr.open_group(results.parents[2] / "panels" / "c.zarr", mode="r")
    np.testing.assert_array_equal(
        group["inputs/front/0"][...], np.moveaxis(panel["front"][...], -1, 0)
    )
    np.testing.assert_array_equal(group["inputs/xray/0"][...], panel["xray"][...])


def test_export_writes_tiled_pyramidal_ome_tiffs_equal_to_the_results(results, cli):
    out = results.parents[3] / "exported"
    code, _, err = cli("export", "c", "--format", "ome-tiff", "--out", out)
    assert code == 0, err
    names = {f"c-{key.replace('/', '-')}.ome.tif" for key in IMAGES}
    assert {path.name for path in out.iterdir()} == names
    group = zarr.open_group(results, mode="r")
    for key in IMAGES:
        with tifffile.TiffFile(out / f"c-{key.replace('/', '-')}.ome.tif") as tiff:
            assert tiff.is_ome and "<OME" in tiff.ome_metadata
            (series,) = tiff.series
            assert [level.shape[:2] for level in series.levels] == level_sizes(SIZE)
            assert all(level.keyframe.is_tiled for level in series.levels)
            assert series.levels[0].keyframe.tilewidth == 512
            stored = group[f"{key}/0"][...]
            expected = np.moveaxis(stored, 0, -1) if stored.ndim == 3 else stored
            assert series.levels[0].dtype == expected.dtype
            np.testing.assert_array_equal(series.levels[0].asarray(), expected)
            small = group[f"{key}/2"][...]
            small = np.moveaxis(small, 0, -1) if small.ndim == 3 else small
            np.testing.assert_array_equal(series.levels[2].asarray(), small)
    assert not list(out.glob(".*")), "no temporaries left"


def test_export_refuses_in_one_line(results, cli):
    code, _, err = cli("export", "nothere")
    assert code == 2 and err.strip().endswith("panel 'nothere' not found")
    code, _, err = cli("export", "c", "--format", "png")
    assert (code, err.strip()) == (2, "xraysep: error: --format png: unknown; use ome-tiff")
    shutil.rmtree(results)
    code, _, err = cli("export", "c")
    assert code == 2 and "no results; run `xraysep separate c` first" in err


def test_a_damaged_level_is_found_by_verify_and_stops_export(results, cli):
    shard = results / "front_xray" / "1" / "c" / "0" / "0"  # level 1: 300×550, 1×2 chunks
    flip(shard, chunk_bytes(shard, (0, 1), (1, 2)))
    rows = {row.item: row for row in verify(["c"])}
    assert rows["front_xray"].status == FAIL
    assert (
        f"1 of 2 chunks damaged; first: {results}: array 'front_xray/1', chunk (0, 1) "
        "(rows 0-299, columns 512-549, file front_xray/1/c/0/0) is damaged (checksum mismatch)"
    ) in rows["front_xray"].detail
    assert [item for item, row in rows.items() if row.status == FAIL] == ["front_xray"]
    code, _, err = cli("export", "c")
    assert code == 2 and err.count("\n") == 1
    assert "array 'front_xray/1', chunk (0, 1)" in err and "checksum mismatch" in err
