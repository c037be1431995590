"""A panel's page in headless Chromium: the screenshot of ``reports/<panel>/index.html`` that
the docs show, ``docs/figures/report.png`` (docs/design.md, The page).

Makes the demo-sized panel in a scratch project (``benchmarks/out/report-screenshot``) with
``xraysep demo`` (the demo's method and training by default, about 10 minutes on 2 cores;
``--method linear`` trains nothing), opens its page from disk in the system's Chromium through
Playwright (no browser download, no network), waits until every pane has loaded its tiles and
writes the screenshot in 256 colours. The page's test (``tests/jobs/test_report.py``) drives
the browser with the same helpers.

    uv run python benchmarks/report_screenshot.py [--method linear] [--iterations N]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright

from common import REPO, command, scratch_project

# what the page needs and nothing else: no GPU, no sandbox (containers), no calls home
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOADED = "() => [...document.querySelectorAll('.pane')].every(p => p.dataset.loaded === 'true')"


def chromium_path() -> Path:
    """The system's Chromium; a missing one is an error that says how to install it."""
    path = Path(shutil.which("chromium") or "/usr/bin/chromium")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: Chromium not found; install it with `apt-get install chromium` (the "
            "report page's test and screenshot drive the system's browser, never a download)"
        )
    return path


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    """Headless Chromium, closed on exit."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_path()), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def wait_loaded(page: Page, timeout: float = 30.0) -> None:
    """Wait until every pane has loaded the tiles it shows (its ``data-loaded`` marker)."""
    page.wait_for_function(LOADED, timeout=timeout * 1000)


def open_page(chromium: Browser, path: Path, width: int, height: int) -> Page:
    """``path`` opened from disk in a window of ``width``×``height``, its tiles loaded."""
    page = chromium.new_page(viewport={"width": width, "height": height})
    page.goto(path.resolve().as_uri())
    wait_loaded(page)
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", help="the demo's method (default: params.yaml's)")
    parser.add_argument("--iterations", type=int, help="training steps (default: the method's)")
    parser.add_argument("--width", type=int, default=1200, help="window width in pixels")
    args = parser.parse_args()
    from xraysep.jobs.pipeline import demo

    root = scratch_project("report-screenshot")
    demo("demo", method=args.method, iterations=args.iterations)
    target = REPO / "docs" / "figures" / "report.png"
    with browser() as chromium:
        page = open_page(chromium, root / "reports" / "demo" / "index.html", args.width, 800)
        shot = target.with_suffix(".full.png")
        page.screenshot(path=shot, full_page=True)
    Image.open(shot).convert("RGB").quantize(256).save(target, optimize=True)
    shot.unlink()
    print(f"wrote {target.relative_to(REPO)}")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
