"""Adding a user's panel: `xraysep add` fills the raw folder and lists the panel in
params.yaml; `xraysep ingest NAME` without files reads that folder with the panel's entry;
bad input stops with one line and writes nothing."""

from __future__ import annotations

import shutil

import yaml
import zarr

from xraysep.io import store


def scans(project, cli, name: str = "scans") -> dict[str, object]:
    """Synthetic scans in a folder of their own, as a user's files are."""
    code, _, err = cli("synth", name, "--size", "48", "--no-ingest")
    assert code == 0, err
    folder = project / name
    shutil.move(project / "data" / "raw" / name, folder)
    return {
        "front": folder / "front.png",
        "back": folder / "back.png",
        "xray": folder / "xray.tiff",
    }


def options(files: dict) -> list[str]:
    return [f"--{role.replace('_', '-')}={path}" for role, path in files.items()]


def test_synth_without_ingest_writes_the_raw_folder_only(project, cli):
    assert cli("synth", "p", "--size", "32", "--no-ingest")[0] == 0
    raw = project / "data" / "raw" / "p"
    assert sorted(p.name for p in raw.iterdir()) == [
        "back.png", "front.png", "made_by.json", "truth_back.tiff", "truth_front.tiff",
        "truth_hidden.tiff", "xray.tiff",
    ]  # fmt: skip
    assert not (project / "data" / "panels" / "p.zarr").exists()


def test_a_listed_synthetic_panel_ingests_from_its_folder_as_synth_does(project, cli):
    assert cli("synth", "direct", "--size", "32")[0] == 0
    assert cli("synth", "p", "--size", "32", "--no-ingest")[0] == 0
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["panels"]["p"] = {"aligned": True}
    (project / "params.yaml").write_text(yaml.safe_dump(params))

    code, _, err = cli("ingest", "p")
    assert code == 0, err
    direct = zarr.open_group(project / "data" / "panels" / "direct.zarr", mode="r")
    listed = zarr.open_group(project / "data" / "panels" / "p.zarr", mode="r")
    assert listed.attrs["xraysep"]["made_by"] == direct.attrs["xraysep"]["made_by"]
    assert "registration" not in listed.attrs["xraysep"]
    assert store.open_panel(project / "data" / "panels" / "p.zarr", "p").has_truth
    for name in ("front", "back", "xray", "truth/front_xray", "truth/hidden_xray"):
        assert (listed[name][:] == direct[name][:]).all(), name


def test_add_copies_the_scans_and_lists_the_panel_once(project, cli):
    files = scans(project, cli)
    code, _, err = cli("add", "wing", *options(files), "--aligned")
    assert code == 0, err
    raw = project / "data" / "raw" / "wing"
    assert sorted(p.name for p in raw.iterdir()) == ["back.png", "front.png", "xray.tiff"]
    assert (raw / "xray.tiff").read_bytes() == files["xray"].read_bytes()
    text = (project / "params.yaml").read_text()
    assert yaml.safe_load(text)["panels"]["wing"] == {"aligned": True}
    assert "dvc add data/raw/wing" in err

    code, _, err = cli("add", "wing", *options(files), "--aligned")
    assert code == 2 and "data/raw/wing: exists; pass --overwrite" in err
    assert cli("add", "wing", *options(files), "--aligned", "--overwrite")[0] == 0
    assert (project / "params.yaml").read_text() == text  # listed once

    code, _, err = cli("ingest", "wing")
    assert code == 0, err
    assert store.open_panel(project / "data" / "panels" / "wing.zarr", "wing").shape == (48, 48)


def test_add_refuses_bad_input_and_writes_nothing(project, cli):
    files = scans(project, cli)
    params = (project / "params.yaml").read_text()
    raw = project / "data" / "raw" / "wing"

    missing = files | {"back": project / "nowhere.png"}
    code, _, err = cli("add", "wing", *options(missing))
    assert code == 2 and f"{project / 'nowhere.png'}: no such file (the back)" in err

    text = files | {"xray": project / "params.yaml"}
    code, _, err = cli("add", "wing", *options(text))
    assert code == 2 and "params.yaml: not a TIFF, PNG or JPEG file" in err

    points = project / "points.csv"
    points.write_text("photo_x,photo_y,xray_x,xray_y\n")
    code, _, err = cli("add", "wing", *options(files | {"front_points": points}), "--aligned")
    assert code == 2 and "need registration; drop --aligned" in err

    assert cli("add", "demo", *options(files))[0] == 2  # listed as aligned, asked otherwise
    assert not raw.exists() and not (project / "data" / "raw" / "demo").exists()
    assert (project / "params.yaml").read_text() == params


def test_ingest_without_files_names_what_the_raw_folder_lacks(project, cli):
    code, _, err = cli("ingest", "wing")
    assert code == 2 and "data/raw/wing: no such folder; `xraysep add`" in err

    files = scans(project, cli)
    assert cli("add", "wing", *options(files), "--aligned")[0] == 0
    (project / "data" / "raw" / "wing" / "back.png").unlink()
    code, _, err = cli("ingest", "wing")
    assert code == 2 and "data/raw/wing/back.*: missing; the back photograph goes there" in err

    shutil.copy(files["front"], project / "data" / "raw" / "wing" / "front.tif")
    code, _, err = cli("ingest", "wing")
    assert code == 2 and "front.png, front.tif are all the front photograph; keep one" in err

    code, _, err = cli("ingest", "wing", "--front", str(files["front"]))
    assert code == 2 and "--back, --xray: missing; give all three files" in err
    code, _, err = cli("ingest", "wing", "--truth-front", str(files["xray"]))
    assert code == 2 and "--truth-front: goes with --front, --back and --xray" in err
    assert not (project / "data" / "panels" / "wing.zarr").exists()
