"""``gpu/``: the wheels it fetches are uv.lock's, and the jobs a GPU check runs need neither
SimpleITK nor imagecodecs, which it leaves out."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

from conftest import REPO, tool_env

# a Python that cannot import the two packages, then the CLI with the arguments after it
WITHOUT = (
    "import sys; sys.modules['SimpleITK'] = sys.modules['imagecodecs'] = None; "
    "from xraysep.cli import main; sys.argv[0] = 'xraysep'; main()"
)


def fetch() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_fetch", REPO / "gpu" / "fetch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_wheel_is_a_version_that_uv_lock_pins_for_the_machines_python() -> None:
    gpu = fetch()
    locked: dict[str, set[str]] = {}
    for package in tomllib.loads((REPO / "uv.lock").read_text())["package"]:
        locked.setdefault(package["name"], set()).add(package["version"])
    for python in ("3.11", "3.12", "3.13"):
        pins, elsewhere = gpu.pins(python)
        for name in gpu.wanted():
            assert name in pins or name in elsewhere, (python, name)
            if name in pins:
                assert pins[name] in locked[name], (python, name, pins[name])
    assert "simpleitk" not in gpu.wanted() and "imagecodecs" not in gpu.wanted()


def test_a_panel_is_made_and_separated_without_simpleitk_or_imagecodecs(
    project: Path,
) -> None:
    for args in (
        ["synth", "offline", "--size", "48"],
        ["pipeline", "offline", "--method", "shared"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", WITHOUT, *args], env=tool_env(), capture_output=True, text=True
        )
        assert done.returncode == 0, (args, done.stderr[-2000:])
    assert (project / "data" / "separated" / "offline.zarr").is_dir()
