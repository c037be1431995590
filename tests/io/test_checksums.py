"""Checksums in every store: a damaged chunk stops separate, evaluate and train with one line
naming the store, the array and the chunk (exit 2, nothing written downstream); a store
written before checksums is still read, with one warning line."""

from __future__ import annotations

import shutil

import pytest
import zarr
from zarr.codecs import ZstdCodec

from xraysep.io import integrity
from xraysep.jobs.combine import combine

from conftest import chunk_bytes, flip, ingest_chunked, snapshot


@pytest.fixture
def panel(project):
    """Panel ``c``, 700×600 (2×2 chunks of 512, one shard per array), with the ``half``
    method's model (nothing to train)."""
    store = ingest_chunked(project, "c")
    combine("c", method="half", register=False)
    return store


def arrays(group: zarr.Group) -> dict[str, zarr.Array]:
    """Every array in ``group`` and its sub-groups, by path."""
    return {
        key: value for key, value in group.members(max_depth=None) if isinstance(value, zarr.Array)
    }


def test_every_array_written_carries_checksums(panel, cli):
    assert cli("separate", "c")[0] == 0
    (results,) = (panel.parent.parent / "separated" / "c.zarr").glob("combine-*")
    written = arrays(zarr.open_group(panel, mode="r")) | arrays(zarr.open_group(results))
    levels = {"front_xray", "back_xray", "hidden", "inputs/front", "inputs/back", "inputs/xray"}
    assert set(written) == {"front", "back", "xray"} | {
        f"{image}/{level}" for image in levels for level in (0, 1)
    }
    for key, array in written.items():
        assert integrity.has_checksums(array), key
        codecs = array.metadata.to_dict()["codecs"][0]["configuration"]
        assert {"name": "crc32c"} in codecs["codecs"], key
        assert {"name": "crc32c"} in codecs["index_codecs"], key


def test_a_damaged_chunk_stops_every_reader(project, panel, cli):
    """The previous results, reports and models stay exactly as they were."""
    assert cli("separate", "c")[0] == 0
    shard = panel / "xray" / "c" / "0" / "0"
    flip(shard, chunk_bytes(shard, (1, 0), (2, 2)))
    before = snapshot(project)
    expected = (
        f"xraysep: error: {panel}: array 'xray', chunk (1, 0) (rows 512-599, columns 0-511, "
        "file xray/c/0/0) is damaged (checksum mismatch); restore the store from a copy "
        "(`dvc checkout`) or make it again"
    )
    for command in (
        ("separate", "c"),
        ("evaluate", "c"),
        ("train", "c", "--method", "shared", "--iterations", "2"),
    ):
        code, _, err = cli(*command)
        assert (code, err.strip()) == (2, expected), command

    def data(files: dict[str, str]) -> dict[str, str]:  # lock files hold no data
        return {k: v for k, v in files.items() if k != "mlflow.db" and not k.endswith(".lock")}

    assert data(snapshot(project)) == data(before)


def test_a_damaged_shard_index_names_the_chunk(panel, cli):
    shard = panel / "front" / "c" / "0" / "0" / "0"
    size = shard.stat().st_size
    flip(shard, slice(size - 20, size - 10), count=2)  # inside the last chunk's index entry
    code, _, err = cli("separate", "c")
    assert code == 2
    assert f"{panel}: array 'front', chunk (0, 0) (rows 0-511, columns 0-511, " in err
    assert "is damaged (checksum mismatch)" in err and len(err.strip().splitlines()) == 1


def rewrite_without_checksums(store) -> None:
    """Make ``store`` as xraysep wrote it before checksums: zstd alone on each chunk."""
    old = zarr.open_group(store, mode="r")
    copy = store.with_name("old.zarr")
    group = zarr.open_group(copy, mode="w", zarr_format=3, attributes=dict(old.attrs))
    for key, array in arrays(old).items():
        target = group.create_array(
            key,
            shape=array.shape,
            dtype=array.dtype,
            chunks=array.chunks,
            shards=array.shards,
            compressors=ZstdCodec(level=3),
            fill_value=0,
        )
        target[...] = array[...]
    shutil.rmtree(store)
    copy.rename(store)


def test_a_store_without_checksums_is_read_with_one_warning(panel, cli):
    rewrite_without_checksums(panel)
    assert not integrity.has_checksums(zarr.open_array(panel / "xray"))
    code, _, err = cli("separate", "c")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("xraysep: warning:")]
    assert warnings == [
        f"xraysep: warning: {panel}: written without chunk checksums, so damage to it cannot "
        "be detected; make it again (`xraysep ingest --overwrite` or `xraysep synth "
        "--overwrite`)"
    ]


def test_garbage_decoded_from_an_old_store_is_out_of_range(panel, cli):
    """Without checksums a flipped chunk may decode into garbage (the issue's MSE of 5e18):
    the range check of what is read stops it."""
    rewrite_without_checksums(panel)
    xray = zarr.open_array(panel / "xray", mode="r+")
    damaged = xray[...]
    damaged[520, 3] = 5e18
    xray[...] = damaged
    code, _, err = cli("separate", "c")
    assert code == 2
    assert err.splitlines()[-1] == (
        f"xraysep: error: {panel}: array 'xray' holds values 0 to 5e+18, outside [0, 1] at "
        "rows 0-599, columns 0-699; the store is damaged"
    )
