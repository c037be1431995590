"""`xraysep verify`: every array, chunk and source file of a panel's stores, one row each;
exit 1 when any check fails, 0 when all pass (skips and warnings included)."""

from __future__ import annotations

import pytest

from xraysep.jobs.combine import combine
from xraysep.jobs.separate import separate
from xraysep.jobs.verify import FAIL, OK, SKIP, verify

from conftest import chunk_bytes, flip, ingest_chunked


@pytest.fixture
def panel(project):
    """Panel ``c`` (700×600: 2×2 chunks per array), separated with the ``half`` method."""
    store = ingest_chunked(project, "c")
    combine("c", method="half", register=False)
    separate("c")
    return store


def by_item(rows) -> dict[tuple[str, str], tuple[str, str]]:
    return {(row.store.split("/")[1], row.item): (row.status, row.detail) for row in rows}


def test_a_good_panel_passes_every_check(panel, cli):
    code, out, err = cli("verify", "c")
    assert code == 0, out
    assert "xraysep verify" in out and err.strip() == "verify: 13 checks, 0 failed"
    rows = by_item(verify(["c"]))
    assert rows == {
        ("panels", "front"): (OK, "600×700×3 uint8, 4 chunks, checksums match, RGB"),
        ("panels", "back"): (OK, "600×700×3 uint8, 4 chunks, checksums match, RGB"),
        ("panels", "xray"): (OK, "600×700 float32, 4 chunks, checksums match, values [0, 1]"),
        ("panels", "truth"): (SKIP, "no front_xray or back_xray (not synthetic)"),
        ("panels", "source xray"): (OK, "scans/xray.tif: SHA-256 as at ingest"),
        ("panels", "source front"): (OK, "scans/front.png: SHA-256 as at ingest"),
        ("panels", "source back"): (OK, "scans/back.png: SHA-256 as at ingest"),
        ("separated", "front_xray"): (
            OK,
            "600×700 float32, 2 levels, 5 chunks, checksums match, values finite",
        ),
        ("separated", "back_xray"): (
            OK,
            "600×700 float32, 2 levels, 5 chunks, checksums match, values finite",
        ),
        ("separated", "hidden"): (
            OK,
            "600×700 float32, 2 levels, 5 chunks, checksums match, values finite",
        ),
        ("separated", "inputs/front"): (
            OK,
            "3×600×700 uint8, 2 levels, 5 chunks, checksums match, RGB",
        ),
        ("separated", "inputs/back"): (
            OK,
            "3×600×700 uint8, 2 levels, 5 chunks, checksums match, RGB",
        ),
        ("separated", "inputs/xray"): (
            OK,
            "600×700 float32, 2 levels, 5 chunks, checksums match, values [0, 1]",
        ),
    }


def test_a_damaged_chunk_fails_and_names_it(panel, cli):
    shard = panel / "xray" / "c" / "0" / "0"
    flip(shard, chunk_bytes(shard, (0, 1), (2, 2)))
    code, out, err = cli("verify", "c")
    assert code == 1 and err.strip() == "verify: 13 checks, 1 failed"
    assert "FAIL" in out
    rows = by_item(verify(["c"]))
    assert rows["panels", "xray"] == (
        FAIL,
        f"1 of 4 chunks damaged; first: {panel}: array 'xray', chunk (0, 1) (rows 0-511, "
        "columns 512-699, file xray/c/0/0) is damaged (checksum mismatch); restore the store "
        "from a copy (`dvc checkout`) or make it again",
    )
    assert [key for key, (status, _) in rows.items() if status == FAIL] == [("panels", "xray")]


def test_missing_shards_and_changed_or_lost_sources(project, panel, cli):
    (results,) = (project / "data" / "separated" / "c.zarr").glob("combine-*")
    (results / "back_xray" / "0" / "c" / "0" / "0").unlink()
    (project / "scans" / "front.png").write_bytes(b"retouched")
    (project / "scans" / "back.png").unlink()
    code, _, err = cli("verify")
    assert code == 1 and err.strip() == "verify: 13 checks, 2 failed"
    rows = by_item(verify())
    assert rows["separated", "back_xray"] == (FAIL, "shard file back_xray/0/c/0/0 is missing")
    assert rows["panels", "source front"] == (
        FAIL,
        "scans/front.png has changed since ingest (its SHA-256 differs)",
    )
    assert rows["panels", "source back"] == (SKIP, "scans/back.png is gone")


def test_an_unknown_panel_is_one_line(project, cli):
    code, _, err = cli("verify", "nothere")
    assert code == 2
    assert (
        err.strip()
        == f"xraysep: error: {project}/data/panels/nothere.zarr: panel 'nothere' not found"
    )
