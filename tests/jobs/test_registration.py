"""Registration at ingest (docs/registration.md): photographs moved by known maps, registered
through the real CLI, with the recovered map's error measured against the truth."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import tifffile
import yaml
import zarr
from PIL import Image
from skimage.transform import AffineTransform

from xraysep import config
from xraysep.core import capture
from xraysep.core.registration.automatic import Estimate
from xraysep.core.registration.mapping import Affine, round_trip
from xraysep.core.registration.resample import resample
from xraysep.errors import InputError
from xraysep.jobs import register
from xraysep.jobs.synth import synth

from registration import case_mapping, estimated, photograph, write_photo

SIZE = 160
# photograph pixels per X-ray pixel, degrees, X-ray pixels: a camera 1.5 times finer, turned
TRUTH = case_mapping((SIZE, SIZE), 1.5, 1.5, (-12.0, 20.0))
# RMS error over the X-ray, X-ray pixels: measured 0.113 (front) and 0.242 (back) on this
# panel; the back weighs less in the X-ray than the front (docs/registration.md, Accuracy)
MAX_ERROR = {"front": 0.2, "back": 0.5}


@pytest.fixture
def scans(project, capsys):
    """A synthetic panel's X-ray and its photographs re-lit (white balance) and as taken
    through ``TRUTH`` (the back as seen from behind), as JPEG; returns (folder, aligned RGB
    in the X-ray's frame)."""
    synth("truth", size=SIZE)
    raw = config.paths("truth").raw_dir
    rng = np.random.default_rng(3)
    aligned = {
        side: capture.white_balance(
            np.asarray(Image.open(raw / f"{side}.png"), np.float32) / 255, 0.5, rng
        )
        for side in ("front", "back")
    }
    aligned["back"] = aligned["back"][:, ::-1]  # into the X-ray's frame
    folder = project / "scans"
    folder.mkdir()
    write_photo(folder / "front.jpg", photograph(aligned["front"], TRUTH, 1.5))
    write_photo(folder / "back.jpg", photograph(aligned["back"], TRUTH, 1.5)[:, ::-1])
    (folder / "xray.tiff").write_bytes((raw / "xray.tiff").read_bytes())
    capsys.readouterr()  # synth's own report: the tests read the CLI's
    return folder, aligned


def files(folder, **swapped) -> list[str]:
    chosen = {"front": "front.jpg", "back": "back.jpg", "xray": "xray.tiff"} | swapped
    return [f"--{key}={folder / name}" for key, name in chosen.items()]


def nothing_written(project, panel: str) -> bool:
    paths = config.paths(panel)
    return not paths.store.exists() and not paths.reports_dir.exists()


def test_the_cli_registers_moved_relit_photographs(project, cli, scans):
    folder, aligned = scans
    code, _, err = cli("ingest", "moved", *files(folder))
    assert code == 0, err
    group = zarr.open_group(config.paths("moved").store, mode="r")
    limit = config.settings().ingest.registration.max_residual
    for side in ("front", "back"):
        record = group.attrs["xraysep"]["registration"][side]
        assert record["method"] == "mutual-information" and record["converged"] is True
        assert 0 < record["iterations"] < record["settings"]["iterations"]
        assert record["residual"]["value"] <= limit
        assert record["parameters"]["scale"] == pytest.approx(1 / 1.5, rel=0.01)
        assert round_trip(estimated("moved", side), TRUTH, (SIZE, SIZE)) < MAX_ERROR[side]
        # the registered photograph is the aligned one, up to JPEG and interpolation, where
        # the camera saw the panel (the shift leaves a band of repeated edge pixels)
        registered = group[side][:].astype(np.float32) / 255
        inner = (slice(30, SIZE - 30), slice(30, SIZE - 30))
        assert np.abs(registered[inner] - aligned[side][inner]).mean() < 0.02
        check = np.asarray(
            Image.open(config.paths("moved").reports_dir / f"registration-{side}.png")
        )
        assert check.shape == (SIZE, SIZE, 3)
    assert group.attrs["xraysep"]["sources"]["front"]["path"] == "scans/front.jpg"
    (run,) = mlflow.search_runs(experiment_names=["xraysep/moved"], output_format="list")
    assert run.data.tags["xraysep.step"] == "register" and "back_residual_px" in run.data.metrics
    logged = mlflow.MlflowClient().list_artifacts(run.info.run_id, "registration")
    assert sorted(Path(item.path).name for item in logged) == [
        "registration-back.png",
        "registration-front.png",
    ]


def points_file(path, photo: np.ndarray, xray: np.ndarray) -> None:
    rows = ["label,photo_x,photo_y,xray_x,xray_y"]
    rows += [
        f"mark {i},{p[0]:.17g},{p[1]:.17g},{x[0]:.17g},{x[1]:.17g}"
        for i, (p, x) in enumerate(zip(photo, xray, strict=True))
    ]
    path.write_text("\n".join(rows) + "\n")


def test_control_points_recover_an_affine_map_exactly(project, cli, scans):
    folder, aligned = scans
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["ingest"]["registration"]["transform"] = "affine"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    truth = Affine.from_homogeneous(
        AffineTransform(scale=(1.2, 0.9), rotation=0.03, shear=0.05, translation=(6, -4)).params
    )  # X-ray pixels -> photograph pixels
    marks = np.array([[10.0, 12.0], [150.0, 20.0], [80.0, 140.0], [30.0, 100.0]])
    write_photo(folder / "front.jpg", photograph(aligned["front"], truth, 1.0))
    write_photo(folder / "back.jpg", photograph(aligned["back"], truth, 1.0)[:, ::-1])
    points_file(folder / "front.csv", truth(marks), marks)
    as_taken = truth(marks) * [-1, 1] + [SIZE - 1, 0]  # the back photograph's own pixels
    points_file(folder / "back.csv", as_taken, marks)
    code, _, err = cli(
        "ingest", "points", *files(folder),
        f"--front-points={folder / 'front.csv'}", f"--back-points={folder / 'back.csv'}",
    )  # fmt: skip
    assert code == 0, err
    group = zarr.open_group(config.paths("points").store, mode="r")
    for side in ("front", "back"):
        record = group.attrs["xraysep"]["registration"][side]
        assert record["method"] == "control-points" and record["pairs"] == 4
        assert record["residual"]["value"] < 1e-9
        found = estimated("points", side)
        np.testing.assert_allclose(found.matrix, truth.matrix, atol=1e-9)
        np.testing.assert_allclose(found.offset, truth.offset, atol=1e-9)
    assert "front_points" in group.attrs["xraysep"]["sources"]


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (["1,2,3,4", "5,6,7,8"], "2 control point pairs; at least 3 are needed"),
        (["1,2,3,4", "5,six,7,8", "9,10,11,12"], "line 3: photo_y 'six' is not a number"),
    ],
)
def test_bad_control_point_files_are_refused_in_one_line(project, cli, scans, rows, problem):
    folder, _ = scans
    csv = folder / "bad.csv"
    csv.write_text("\n".join(["photo_x,photo_y,xray_x,xray_y", *rows]) + "\n")
    code, _, err = cli("ingest", "bad", *files(folder), f"--front-points={csv}")
    assert code == 2
    assert err.strip() == f"xraysep: error: {csv}: {problem}"
    assert nothing_written(project, "bad")


def test_no_register_keeps_the_size_check(project, cli, scans):
    folder, _ = scans
    code, _, err = cli("ingest", "plain", "--no-register", *files(folder))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{folder}/front.jpg: size 240×240 does not match the X-ray" in err
    assert nothing_written(project, "plain")


def test_a_photograph_with_nothing_to_register_is_refused(project, cli, scans):
    folder, _ = scans
    Image.fromarray(np.full((200, 220, 3), 128, np.uint8)).save(folder / "grey.png")
    code, _, err = cli("ingest", "flat", *files(folder, front="grey.png"))
    assert code == 2
    assert err.strip() == (
        f"xraysep: error: {folder}/grey.png: registration to the X-ray failed (the photograph "
        "is constant: nothing to register; residual undefined); give control points with "
        "--front-points"
    )
    assert nothing_written(project, "flat")


def test_an_x_ray_too_small_to_register_automatically_is_refused(project, cli, scans):
    folder, _ = scans
    small = folder / "small.tiff"
    tifffile.imwrite(small, tifffile.imread(folder / "xray.tiff")[:120])
    code, _, err = cli("ingest", "small", *files(folder, xray="small.tiff"))
    assert code == 2
    assert err.strip() == (
        f"xraysep: error: {small}: {SIZE}×120 is too small to register automatically (under "
        "ingest.registration.min_size, 128 pixels a side); give control points with "
        "--front-points and --back-points, or --no-register for photographs in the X-ray's "
        "frame"
    )
    assert nothing_written(project, "small")


def estimate(residual: float, converged: bool) -> Estimate:
    identity = Affine(np.eye(2), np.zeros(2))
    return Estimate(identity, -0.5, residual, converged, 200, "maximum number of iterations")


@pytest.mark.parametrize(
    ("found", "problem"),
    [
        (estimate(2.5, True), "registration to the X-ray is uncertain: residual 2.50 X-ray "
         "pixels, above ingest.registration.max_residual (0.5); give control points with "
         "--back-points"),
        (estimate(0.1, False), "registration to the X-ray did not converge within 200 "
         "iterations (residual 0.10 X-ray pixels); give control points with --back-points"),
    ],
)  # fmt: skip
def test_an_untrustworthy_estimate_is_refused(project, tmp_path, found, problem):
    with pytest.raises(InputError) as refused:
        register._automatic(
            tmp_path / "b.jpg", "back", found, config.settings().ingest.registration
        )
    assert str(refused.value) == f"{tmp_path / 'b.jpg'}: {problem}"


@pytest.mark.parametrize("order", [1, 3])
def test_block_resampling_equals_whole_image_resampling(order):
    """Each block reads only its window of the photograph (bounded memory), and the result
    is the whole-image resample's: exactly for bilinear, within a grey level for cubic (its
    prefilter sees the window's margin, not the whole image)."""
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 65536, (300, 260, 3), dtype=np.uint16)
    mapping = Affine.similarity(1.3, 2.0, (5.0, -7.0))
    whole = resample(photo, mapping, (180, 200), order, block=1024)
    blocks = resample(photo, mapping, (180, 200), order, block=37)
    if order == 1:
        np.testing.assert_array_equal(blocks, whole)
    else:
        assert np.abs(blocks.astype(int) - whole.astype(int)).max() <= 1
