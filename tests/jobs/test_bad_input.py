"""The bad-input matrix: every bad input to ingest, train, separate and the served model gets
one line naming the input and the problem (HTTP 4xx with a message from the server), and
leaves every file of the project exactly as it was. Inputs of 16 bits and floats are accepted
and scaled correctly.

The rows run against the session's trained, separated, evaluated and served panel ``p``, so
"unchanged" covers its store, models, reports, separated results and MLflow store.
"""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

from xraysep.io import store

from conftest import SERVE_MAX_PIXELS, snapshot
from serve_load import oversized_body, post

RNG = np.random.default_rng(0)
H, W = 40, 60


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Good files of a 60×40 scan and, beside them, one bad file of each kind."""
    folder = tmp_path_factory.mktemp("scans")
    rgb = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "front.png")
    Image.fromarray(rgb[::-1]).save(folder / "back.png")
    xray = RNG.integers(1000, 60000, (H, W), dtype=np.uint16)
    tifffile.imwrite(folder / "xray.tif", xray)
    tifffile.imwrite(folder / "truth.tif", xray.astype(np.float32) / 2)

    Image.fromarray(rgb[:-1]).save(folder / "short.png")
    tifffile.imwrite(folder / "narrow.tif", xray[:, :-1].astype(np.float32))
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(folder / "rgba.png")
    Image.fromarray(rgb[..., 0]).save(folder / "grey.png")
    tifffile.imwrite(folder / "rgb.tif", rgb, photometric="rgb")
    data = (folder / "xray.tif").read_bytes()
    (folder / "cut.tif").write_bytes(data[: len(data) // 2])
    (folder / "text.png").write_text("front of the Ghent wing, see scan notes\n")
    (folder / "empty.png").write_bytes(b"")
    with_nan = xray.astype(np.float32)
    with_nan[5, 7] = np.nan
    tifffile.imwrite(folder / "nan.tif", with_nan)
    with_inf = xray.astype(np.float32)
    with_inf[3, 2] = np.inf
    tifffile.imwrite(folder / "inf.tif", with_inf)
    tifffile.imwrite(folder / "flat.tif", np.full((H, W), 812, np.uint16))
    # header says 46000×46000 (2.1 gigapixels): sparse on disk, refused before decoding
    tifffile.imwrite(folder / "huge.tif", shape=(46000, 46000), dtype=np.uint8)
    return folder


def ingest(panel: str = "q", **files: str) -> list[str]:
    """The argv of an ingest of ``panel`` from the good files (random, so not registrable:
    taken as already in the X-ray's frame), with ``files`` swapped in."""
    chosen = {"front": "front.png", "back": "back.png", "xray": "xray.tif"} | files
    return [
        "ingest",
        panel,
        "--no-register",
        *(x for k, v in chosen.items() for x in (f"--{k}", "{s}/" + v)),
    ]


TRUTH = {"truth-front": "truth.tif", "truth-back": "truth.tif"}

# (what is wrong, argv with {s} for the scans folder, the whole message after "xraysep: error: "
# with {s} and {root}; "…" ends a message whose rest comes from the decoder library)
CLI_ROWS = [
    (
        "sizes differ: front and X-ray",
        ingest(front="short.png"),
        "{s}/short.png: size 60×39 does not match the X-ray {s}/xray.tif (60×40)",
    ),
    (
        "sizes differ: truth and X-ray",
        ingest(**TRUTH | {"truth-back": "narrow.tif"}),
        "{s}/narrow.tif: size 59×40 does not match the X-ray {s}/xray.tif (60×40)",
    ),
    (
        "RGBA photograph",
        ingest(back="rgba.png"),
        "{s}/rgba.png: has RGBA; expected an RGB image with 3 channels",
    ),
    (
        "grey photograph",
        ingest(front="grey.png"),
        "{s}/grey.png: is a grey image; expected an RGB photograph",
    ),
    (
        "RGB X-ray",
        ingest(xray="rgb.tif"),
        "{s}/rgb.tif: has shape (40, 60, 3); expected a grey X-ray (one channel)",
    ),
    (
        "truncated TIFF",
        ingest(xray="cut.tif"),
        "{s}/cut.tif: cannot decode image (…",
    ),
    (
        "text file named .png",
        ingest(front="text.png"),
        "{s}/text.png: cannot decode image (cannot identify image file '{s}/text.png')",
    ),
    ("empty file", ingest(back="empty.png"), "{s}/empty.png: file is empty"),
    ("NaN in a float TIFF", ingest(xray="nan.tif"), "{s}/nan.tif: contains NaN or infinite values"),
    (
        "Inf in a float TIFF",
        ingest(**TRUTH | {"truth-front": "inf.tif"}),
        "{s}/inf.tif: contains NaN or infinite values",
    ),
    (
        "constant X-ray",
        ingest(xray="flat.tif"),
        "{s}/flat.tif: X-ray is constant between its 1st and 99th percentiles (812); "
        "the stretch is undefined",
    ),
    (
        "image over the size limit",
        ingest(xray="huge.tif"),
        "{s}/huge.tif: 2116.0 megapixels (46000×46000) exceeds the limit of 2000 "
        "(ingest.max_megapixels in params.yaml)",
    ),
    ("missing file", ingest(front="nothere.png"), "{s}/nothere.png: no such file"),
    (
        "panel name with /",
        ingest("wings/left"),
        "panel name 'wings/left': use 1-64 letters, digits, '_', '-' or '.', starting with a "
        "letter or digit, with no path separators and no '..'",
    ),
    (
        "panel name with ..",
        ingest("p..q"),
        "panel name 'p..q': use 1-64 letters, digits, '_', '-' or '.', starting with a letter "
        "or digit, with no path separators and no '..'",
    ),
    (
        "existing panel without --overwrite",
        ingest("p"),
        "{root}/data/panels/p.zarr: panel 'p' exists; pass --overwrite to replace it",
    ),
    (
        "unknown order",
        ["train", "p", "--order", "13"],
        "order '13': unknown; choose 12 (front, back) or 21 (back, front)",
    ),
    (
        "unknown preset",
        ["train", "p", "--order", "12", "--preset", "huge"],
        "preset 'huge': unknown; params.yaml defines fast, fast-crops, paper, paper-crops, tiny",
    ),
    (
        "unknown device",
        ["train", "p", "--order", "12", "--device", "tpu"],
        "device 'tpu': unknown; choose one of auto, cpu, cuda, mps",
    ),
    (
        "unknown benchmark suite",
        ["benchmark", "--suite", "holdout"],
        "suite 'holdout': unknown; choose one of paper-scale, test, validation",
    ),
    (
        "no iterations",
        ["train", "p", "--order", "21", "--iterations", "0"],
        "--iterations 0: must be at least 1",
    ),
    (
        "train a missing panel",
        ["train", "nopanel", "--order", "12"],
        "{root}/data/panels/nopanel.zarr: panel 'nopanel' not found; create it with "
        "`xraysep ingest` or `xraysep synth`",
    ),
    (
        "missing model",
        ["separate", "p", "--model", "{s}/combine.pt"],
        "{s}/combine.pt: model not found; run `xraysep combine p` first",
    ),
    (
        "model file that is not a model",
        ["separate", "p", "--model", "{s}/front.png"],
        "{s}/front.png: not a readable xraysep model (not a file of tensors that torch can "
        "load safely)",
    ),
    (
        "ordering model where a combined one is needed",
        ["separate", "p", "--model", "{root}/models/p/trained/order-12.pt"],
        "{root}/models/p/trained/order-12.pt: not an xraysep combined model",
    ),
    (
        "separate a missing panel",
        ["separate", "nopanel"],
        "{root}/data/panels/nopanel.zarr: panel 'nopanel' not found; create it with "
        "`xraysep ingest` or `xraysep synth`",
    ),
    (
        "export a missing panel",
        ["export", "nopanel"],
        "{root}/data/panels/nopanel.zarr: panel 'nopanel' not found",
    ),
    (
        "report on a missing panel",
        ["report", "nopanel"],
        "{root}/data/panels/nopanel.zarr: panel 'nopanel' not found",
    ),
    (
        "export to an unknown format",
        ["export", "p", "--format", "png"],
        "--format png: unknown; use ome-tiff",
    ),
]


@pytest.mark.parametrize(
    ("argv", "expected"), [r[1:] for r in CLI_ROWS], ids=[r[0] for r in CLI_ROWS]
)
def test_bad_cli_input_is_one_line_and_changes_nothing(served, cli, scans, argv, expected):
    before = snapshot(served.root)
    code, out, err = cli(*(arg.format(s=scans, root=served.root) for arg in argv))
    expected = expected.format(s=scans, root=served.root)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    if expected.endswith("…"):
        assert line.startswith(f"xraysep: error: {expected[:-1]}"), line
    else:
        assert line == f"xraysep: error: {expected}"
    assert snapshot(served.root) == before


def pixels(h: int, w: int, value: float = 0.5) -> list:
    return np.full((h, w, 3), value).tolist()


# (what is wrong, the JSON body (or raw bytes), what the answer's message must contain)
REQUEST_ROWS = [
    ("missing key", {"inputs": {"front": pixels(8, 8)}}, "Model is missing inputs ['back']"),
    (
        "grey instead of RGB",
        {"inputs": {"front": [[0.5] * 8] * 8, "back": [[0.5] * 8] * 8}},
        "Shape of input (8, 8) does not match expected shape (-1, -1, 3)",
    ),
    (
        "non-numeric",
        {"inputs": {"front": [[["a", "b", "c"]]], "back": pixels(1, 1)}},
        "could not convert string to float: 'a'",
    ),
    (
        "sizes differ",
        {"inputs": {"front": pixels(8, 8), "back": pixels(8, 9)}},
        "'front' (8, 8, 3) and 'back' (8, 9, 3) differ in size",
    ),
    (
        "out of range",
        {"inputs": {"front": pixels(2, 2, 7.0), "back": pixels(2, 2)}},
        "'front' must hold finite values in [0, 1]",
    ),
    (
        "NaN",
        b'{"inputs": {"front": [[[NaN, 0, 0]]], "back": [[[0, 0, 0]]]}}',
        "'front' must hold finite values in [0, 1]",
    ),
    ("no pixels", {"inputs": {"front": [], "back": []}}, "Failed to enforce schema"),
    ("not JSON", b"{inputs: front", "Ensure that input is a valid JSON formatted string"),
    (
        "oversized",
        oversized_body(SERVE_MAX_PIXELS),
        f"'front' has 6000 pixels; at most {SERVE_MAX_PIXELS} per request, "
        "use `xraysep separate` for whole panels",
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [r[1:] for r in REQUEST_ROWS], ids=[r[0] for r in REQUEST_ROWS]
)
def test_bad_request_gets_4xx_and_the_server_keeps_serving(served, body, expected):
    before = snapshot(served.root)
    status, answer = post(served.url, body)
    assert status == 400 and expected in answer["message"], answer
    assert post(served.url, {"inputs": {"front": pixels(8, 8), "back": pixels(8, 8)}})[0] == 200
    assert snapshot(served.root) == before


def test_16_bit_inputs_keep_their_depth(project, cli, tmp_path):
    """16-bit RGB (TIFF and PNG) and a 16-bit X-ray: stored as they are, read as v / 65535."""
    front = RNG.integers(0, 65536, (H, W, 3), dtype=np.uint16)
    back = RNG.integers(0, 65536, (H, W, 3), dtype=np.uint16)
    xray = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "front.tif", front, photometric="rgb")
    png16(tmp_path / "back.png", back)
    tifffile.imwrite(tmp_path / "xray.tif", xray, compression="lzw")  # scanners' favourite
    args = ["--front", "front.tif", "--back", "back.png", "--xray", "xray.tif"]
    code, _, err = cli(
        "ingest", "deep", "--no-register", *(a if a[0] == "-" else tmp_path / a for a in args)
    )
    assert code == 0, err

    panel = store.open_panel(project / "data" / "panels" / "deep.zarr", "deep")
    group = zarr.open_group(panel.path, mode="r")
    assert group["front"].dtype == group["back"].dtype == np.uint16
    np.testing.assert_array_equal(group["front"][:], front)
    np.testing.assert_array_equal(group["back"][:], back[:, ::-1])
    np.testing.assert_array_equal(panel.rgb("front"), front.astype(np.float32) / 65535)
    low, high = np.percentile(xray, [1, 99])
    expected = np.clip((xray.astype(np.float32) - np.float32(low)) / np.float32(high - low), 0, 1)
    np.testing.assert_allclose(panel.xray(), expected, atol=1e-6)
    assert panel.attrs["xraysep"]["stretch"]["source_dtype"] == "uint16"


def test_float_inputs_are_scaled(project, cli, tmp_path):
    """Float RGB in [0, 1] becomes 16-bit exactly; a float X-ray in its own units (here
    attenuation, 0 to 3) is stretched between its 1st and 99th percentiles."""
    front = RNG.random((H, W, 3), dtype=np.float32)
    back = RNG.random((H, W, 3)).astype(np.float64)
    xray = (RNG.random((H, W), dtype=np.float32) * 3).astype(np.float32)
    tifffile.imwrite(tmp_path / "front.tif", front, photometric="rgb")
    tifffile.imwrite(tmp_path / "back.tif", back, photometric="rgb")
    tifffile.imwrite(tmp_path / "xray.tif", xray)
    args = [f"--{k}={tmp_path / k}.tif" for k in ("front", "back", "xray")]
    code, _, err = cli("ingest", "flt", "--no-register", *args)
    assert code == 0, err

    panel = store.open_panel(project / "data" / "panels" / "flt.zarr", "flt")
    np.testing.assert_allclose(panel.rgb("front"), front, atol=0.5 / 65535)
    np.testing.assert_allclose(panel.rgb("back"), back[:, ::-1], atol=0.5 / 65535)
    low, high = np.percentile(xray, [1, 99])
    stretched = panel.xray()
    assert stretched.min() == 0 and stretched.max() == 1
    inside = (xray > low) & (xray < high)
    np.testing.assert_allclose(stretched[inside], ((xray - low) / (high - low))[inside], atol=1e-6)


def test_float_rgb_outside_0_1_is_refused(project, cli, tmp_path):
    tifffile.imwrite(
        tmp_path / "front.tif", np.full((H, W, 3), 200.0, np.float32), photometric="rgb"
    )
    tifffile.imwrite(tmp_path / "back.tif", np.zeros((H, W, 3), np.float32), photometric="rgb")
    tifffile.imwrite(tmp_path / "xray.tif", RNG.random((H, W), dtype=np.float32))
    args = [f"--{k}={tmp_path / k}.tif" for k in ("front", "back", "xray")]
    code, _, err = cli("ingest", "flt", *args)
    assert code == 2
    assert err.strip() == (
        f"xraysep: error: {tmp_path}/front.tif: float RGB values must lie in [0, 1] "
        "(found 200 to 200)"
    )
    assert not (project / "data").exists()


def png16(path, rgb):
    """Write a 16-bit RGB PNG (Pillow cannot; imagecodecs can)."""
    path.write_bytes(imagecodecs.png_encode(rgb))
