"""Download the wheels that a GPU machine without network needs to run xraysep.

A CUDA machine often comes with its own PyTorch and scientific stack and no package index.
This takes the packages of ``gpu/packages.txt`` at the versions ``uv.lock`` pins for the
machine's Python, as x86-64 Linux wheels without their dependencies, into ``.whl/``; on the
machine, ``source gpu/env`` installs them offline (``gpu/checks`` runs the GPU checks).

    uv run --with pip python gpu/fetch.py [--python 3.12] [--dest .whl]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker

REPO = Path(__file__).resolve().parents[1]
# manylinux tags that pip must be given one by one (it matches each exactly)
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (17, 24, 27, 28, 31, 34, 35)] + [
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]


def wanted() -> list[str]:
    """The package names of ``gpu/packages.txt``, without its comments."""
    lines = (REPO / "gpu" / "packages.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def pins(python: str) -> tuple[dict[str, str], set[str]]:
    """Package name -> the version ``uv.lock`` installs on Linux x86-64 under ``python``, and
    the names it locks for other machines or Pythons only."""
    exported = subprocess.run(
        ["uv", "export", "--locked", "--no-dev", "--no-hashes", "--no-emit-project"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    machine = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "implementation_name": "cpython",
    }
    found, elsewhere = {}, set()
    for line in exported.splitlines():
        if not line or line.startswith(("#", " ")):
            continue
        requirement, _, marker = line.partition(" ; ")
        name, version = requirement.split("==")
        if marker and not Marker(marker).evaluate(machine):
            elsewhere.add(name)
        else:
            found[name] = version
    return found, elsewhere - found.keys()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="the GPU machine's Python, major.minor")
    parser.add_argument("--dest", type=Path, default=REPO / ".whl")
    args = parser.parse_args()
    locked, elsewhere = pins(args.python)
    names = [name for name in wanted() if name not in elsewhere]
    if missing := [name for name in names if name not in locked]:
        sys.exit(f"gpu/packages.txt: {', '.join(missing)} not in uv.lock's dependencies")
    args.dest.mkdir(exist_ok=True)
    for stale in args.dest.glob("*.whl"):
        stale.unlink()
    platforms = [flag for platform in PLATFORMS for flag in ("--platform", platform)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            args.python,
            "--implementation",
            "cp",
            *platforms,
            "--dest",
            str(args.dest),
            *(f"{name}=={locked[name]}" for name in names),
        ],
        check=True,
    )
    wheels = sorted(args.dest.glob("*.whl"))
    size = sum(wheel.stat().st_size for wheel in wheels)
    print(f"{len(wheels)} wheels, {size / 2**20:.1f} MiB in {args.dest}")


if __name__ == "__main__":
    main()
