"""The panel's page: tiles from every level of the latest results, written atomically, one
line for a panel without results, and a page that loads its panes in headless Chromium and
zooms and pans them together."""

from __future__ import annotations

import io
import json
import shutil

import mlflow
import numpy as np
import pytest
import zarr
from PIL import Image

from xraysep.core.pyramid import halve
from xraysep.io.images import to_uint8
from xraysep.jobs import report as report_job

from conftest import build_separated, enter_copy, ingest_chunked
from report_screenshot import browser, chromium_path, wait_loaded

SIZE = (600, 1000)  # page levels at 256² tiles: 600×1000 and 300×500 stored, 150×250 halved
TILES = {0: (3, 4), 1: (2, 2), 2: (1, 1)}  # level: (rows, columns) of tiles
PANES = ["front", "back", "xray", "front_xray", "back_xray", "hidden"]
VIEW = ("scale", "x", "y", "level")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_separated(tmp_path_factory.mktemp("report"), *SIZE)


@pytest.fixture
def project_c(built, tmp_path, monkeypatch):
    return enter_copy(built, tmp_path, monkeypatch)


def results(root):
    (version,) = (root / "data" / "separated" / "c.zarr").glob("combine-*")
    return zarr.open_group(version, mode="r+")


def page_data(page):
    """The JSON the page embeds for its viewer."""
    text = page.read_text()
    start = text.index('id="page-data">') + len('id="page-data">')
    return json.loads(text[start : text.index("</script>", start)])


def tile(root, image, level, row, col):
    return np.asarray(
        Image.open(root / "reports" / "c" / "tiles" / image / f"{level}/{row}_{col}.png")
    )


def test_report_writes_every_level_of_every_image(project_c, cli):
    code, _, err = cli("report", "c")
    assert code == 0, err
    reports = project_c / "reports" / "c"
    data = page_data(reports / "index.html")
    assert [pane["name"] for pane in data["panes"]] == PANES
    assert data["levels"] == [[600, 1000], [300, 500], [150, 250]]
    assert (data["panel"], data["method"], data["metrics"]) == ("c", "half", None)
    for image in PANES:
        for level, (rows, cols) in TILES.items():
            names = sorted(p.name for p in (reports / "tiles" / image / str(level)).iterdir())
            assert names == sorted(f"{r}_{c}.png" for r in range(rows) for c in range(cols))
    assert tile(project_c, "xray", 0, 0, 0).shape == (256, 256)
    assert tile(project_c, "front", 0, 2, 3).shape == (600 - 512, 1000 - 768, 3)  # the corner

    group = results(project_c)  # photographs as stored; the level below the stored ones halved
    front = [group[f"inputs/front/{level}"][...] for level in (0, 1)]
    front.append(halve(front[1]))
    for level, row, col in ((0, 1, 2), (1, 1, 1), (2, 0, 0)):
        stored = front[level][:, 256 * row : 256 * (row + 1), 256 * col : 256 * (col + 1)]
        np.testing.assert_array_equal(
            tile(project_c, "front", level, row, col), np.moveaxis(stored, 0, -1)
        )

    # the X-rays share one display range: the widest of their 1–99 % on the smallest level
    smallest = [group[f"{key}/1"][...] for key in ("inputs/xray", "front_xray", "back_xray")]
    low = min(np.percentile(values, 1) for values in smallest)
    high = max(np.percentile(values, 99) for values in smallest)
    assert data["panes"][2]["range"] == data["panes"][3]["range"] == pytest.approx([low, high])
    side = group["front_xray/0"][:256, :256]
    expected = to_uint8((side - np.float32(low)) / np.float32(high - low))
    assert np.abs(tile(project_c, "front_xray", 0, 0, 0).astype(int) - expected).max() <= 1


def test_hidden_and_uncertainty_get_panes_of_their_own(project_c, cli):
    """The hidden layer (of the half split: zero) has a grey range of its own, not the
    X-rays'; an uncertainty map (here a copy of the front's X-ray, which is ≥ 0) comes last,
    a heat map."""
    group = results(project_c)
    shutil.copytree(group.store.root / "front_xray", group.store.root / "uncertainty")
    group.attrs["outputs"] = ["front_xray", "back_xray", "uncertainty", "hidden"]
    code, _, err = cli("report", "c")
    assert code == 0, err
    panes = page_data(project_c / "reports" / "c" / "index.html")["panes"]
    assert [(p["name"], p["kind"]) for p in panes[3:]] == [
        ("front_xray", "grey"), ("back_xray", "grey"), ("hidden", "own"), ("uncertainty", "heat"),
    ]  # fmt: skip
    low, high = panes[5]["range"]
    assert abs(low) < 1e-6 and high - low < 1e-5 and panes[3]["range"][1] > 0.5
    assert tile(project_c, "hidden", 0, 0, 0).shape == (256, 256)
    assert tile(project_c, "uncertainty", 2, 0, 0).shape == (150, 250, 3)


def test_evaluate_writes_the_page_with_its_metrics_and_logs_it(project_c, cli):
    code, _, err = cli("evaluate", "c")
    assert code == 0, err
    page = project_c / "reports" / "c" / "index.html"
    data = page_data(page)
    assert data["metrics"]["half"]["recon_mse"] == pytest.approx(0.0, abs=1e-9)
    assert ["recon_mse", "recon MSE"] in data["columns"]
    (run,) = mlflow.search_runs(
        experiment_names=["xraysep/c"], filter_string="run_name = 'evaluate'", output_format="list"
    )
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert "index.html" in logged


def test_evaluate_without_results_of_its_model_says_how_to_make_the_page(project_c, cli):
    shutil.rmtree(results(project_c).store.root)
    code, _, err = cli("evaluate", "c")
    assert code == 0, err
    assert "xraysep: warning: " in err and "no results of this model, so no page; run " in err
    assert "`xraysep separate c`, then `xraysep report c`" in err
    assert not (project_c / "reports" / "c" / "index.html").exists()


def test_a_second_run_replaces_the_page_and_a_failed_one_changes_nothing(
    project_c, cli, monkeypatch
):
    reports = project_c / "reports" / "c"
    assert cli("report", "c")[0] == 0
    (reports / "tiles" / "stale.png").write_bytes(b"")
    assert cli("report", "c")[0] == 0
    assert not (reports / "tiles" / "stale.png").exists()  # a new folder, not an update

    before = {p: p.read_bytes() for p in reports.rglob("*") if p.is_file()}
    written = []

    def failing(path, pixels, compression):  # the disk fails after a few tiles
        if len(written) == 5:
            raise RuntimeError("disk failed")
        written.append(path)

    monkeypatch.setattr(report_job, "write_png", failing)
    with pytest.raises(RuntimeError, match="disk failed"):
        report_job.report("c")
    assert {p: p.read_bytes() for p in reports.rglob("*") if p.is_file()} == before
    assert not [p.name for p in reports.iterdir() if p.name.startswith(".") and "tmp" in p.name]


def test_a_panel_without_results_is_one_line(project, cli, capsys):
    code, _, err = cli("report", "nope")
    assert (code, err.strip()) == (2, f"xraysep: error: {project}/data/panels/nope.zarr: "
                                      "panel 'nope' not found")  # fmt: skip
    ingest_chunked(project, "q", 64, 64)
    capsys.readouterr()  # ingest's own line
    code, _, err = cli("report", "q")
    separated = project / "data" / "separated" / "q.zarr"
    assert (code, err.strip()) == (
        2, f"xraysep: error: {separated}: no results; run `xraysep separate q` first"
    )  # fmt: skip
    assert not (project / "reports" / "q" / "index.html").exists()


def test_a_metrics_file_that_is_not_json_is_one_line(project_c, cli):
    metrics = project_c / "reports" / "c" / "metrics.json"
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text("{not json")
    code, _, err = cli("report", "c")
    assert code == 2
    assert err.startswith(f"xraysep: error: {metrics}: not the metrics evaluate writes (")
    assert len(err.strip().splitlines()) == 1


def test_the_page_loads_and_zooms_and_pans_its_panes_together_in_chromium(project_c, cli):
    """Opened from disk, no server: every pane loads its tiles, shows a picture, and follows
    the wheel and the drag over one pane; zooming in loads the finer level."""
    try:
        chromium_path()
    except FileNotFoundError as error:
        pytest.fail(str(error))
    assert cli("report", "c")[0] == 0
    with browser() as chromium:
        page = chromium.new_page(viewport={"width": 700, "height": 900})
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto((project_c / "reports" / "c" / "index.html").as_uri())
        wait_loaded(page)
        state = page.evaluate("window.xraysepViewer.panes()")
        assert [pane["name"] for pane in state] == PANES
        assert {pane["level"] for pane in state} == {1}  # 1000 px across a ~320 px pane
        errors = page.eval_on_selector_all(".pane", "panes => panes.map(p => p.dataset.errors)")
        assert errors == ["0"] * len(PANES)

        shot = np.asarray(Image.open(io.BytesIO(page.screenshot(full_page=True))))[..., :3]
        assert shot.std() > 20  # not blank
        background = shot[5, 5].astype(int)
        for name in PANES:
            box = page.locator(f"#pane-{name} .frame").bounding_box()
            top, left = int(box["y"]), int(box["x"])
            region = shot[top : top + int(box["height"]), left : left + int(box["width"])]
            assert np.abs(region.astype(int) - background).mean() > 10, name
            assert region.std() > 10 or name == "hidden", name  # the half split leaves zero

        box = page.locator("#pane-xray .frame").bounding_box()
        middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.move(*middle)
        page.mouse.wheel(0, -500)
        page.wait_for_function(f"window.xraysepViewer.view().scale > {2 * state[0]['scale']}")
        wait_loaded(page)
        views = {tuple(p[k] for k in VIEW) for p in page.evaluate("window.xraysepViewer.panes()")}
        assert len(views) == 1  # every pane shows the same view
        ((scale, x, y, level),) = views
        assert level == 0
        sources = page.eval_on_selector_all(
            "#pane-back_xray img", "images => images.map(i => [i.src, i.naturalWidth])"
        )
        finer = [width for src, width in sources if "/tiles/back_xray/0/" in src]
        assert finer and all(width > 0 for width in finer)

        page.mouse.down()
        page.mouse.move(middle[0] - 40, middle[1] + 20)
        page.mouse.up()
        page.wait_for_function(f"window.xraysepViewer.view().x !== {x}")
        for pane in page.evaluate("window.xraysepViewer.panes()"):
            assert pane["scale"] == scale, pane["name"]
            assert (pane["x"], pane["y"]) == pytest.approx((x + 40 / scale, y - 20 / scale))

        page.mouse.dblclick(box["x"] + 10, box["y"] + 10)
        page.wait_for_function(f"window.xraysepViewer.view().scale === {state[0]['scale']}")
        wait_loaded(page)
        assert page.evaluate("window.xraysepViewer.panes()") == state  # the whole panel again
        assert requests and all(url.startswith("file://") for url in requests)
