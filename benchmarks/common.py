"""Shared set-up of the benchmarks: a scratch project under ``benchmarks/out/``.

Each benchmark runs the real jobs (synth, train, combine, separate) in its own project root,
with the repository's ``params.yaml`` plus the overrides it states, tracking to a SQLite store
inside that root, so benchmark runs never touch the project's data or MLflow store.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Callable, Hashable
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def scratch_project(name: str, overrides: dict | None = None) -> Path:
    """Make ``benchmarks/out/<name>`` the project root (params merged with ``overrides``)."""
    root = REPO / "benchmarks" / "out" / name
    write_params(root, (REPO / "params.yaml").read_text(), overrides)
    os.environ["XRAYSEP_ROOT"] = str(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    return root


def write_params(root: Path, text: str, overrides: dict | None) -> None:
    """``root/params.yaml``: the YAML ``text`` with each section updated by ``overrides``."""
    root.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load(text)
    for section, values in (overrides or {}).items():
        params[section] = {**params.get(section, {}), **values}
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def versions(ref: str | None, root: Path, overrides: dict | None = None) -> dict[str, dict]:
    """The environments that run this tree's code, and commit ``ref``'s where given, on the
    scratch project ``root``. The baseline's sources (unpacked under ``root/baseline/``) come
    first on ``PYTHONPATH``; its project root is its own, with that commit's ``params.yaml``
    (a newer file may hold keys it does not know) and ``root``'s data and models, so both
    codes read the same panels and models."""
    found = {"this code": {"PYTHONPATH": str(REPO / "src"), "XRAYSEP_ROOT": str(root)}}
    if ref is None:
        return found
    source = baseline_sources(ref, root)
    project = source.parent / "project"
    write_params(project, git("show", f"{ref}:params.yaml").decode(), overrides)
    for folder in ("data", "models"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        if not (project / folder).exists():
            (project / folder).symlink_to(root / folder)
    return {f"baseline {ref}": {"PYTHONPATH": str(source), "XRAYSEP_ROOT": str(project)}} | found


def baseline_sources(ref: str, root: Path) -> Path:
    """The ``src`` folder of commit ``ref``, unpacked under ``root/baseline/``: put it first
    on ``PYTHONPATH`` to run that commit's code beside this tree's."""
    commit = git("rev-parse", "--short", ref).decode().strip()
    target = root / "baseline" / commit
    if not (target / "src").is_dir():
        with tarfile.open(fileobj=BytesIO(git("archive", commit, "src"))) as tar:
            tar.extractall(target, filter="data")
    return target / "src"


def git(*args: str) -> bytes:
    """What ``git args...`` prints in this repository."""
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True).stdout


def peak_rss_mb(pid: int | str = "self") -> float:
    """Process ``pid``'s peak resident memory (VmHWM), MB. Not ``getrusage``'s ``ru_maxrss``:
    Linux carries that over an exec, so a child would report its parent's peak if larger."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024


def command() -> str:
    """The command line that reproduces this run."""
    script = Path(sys.argv[0]).resolve().relative_to(REPO)
    return "uv run python " + shlex.join([str(script), *sys.argv[1:]])


def machine() -> str:
    import platform

    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}"
    )


def in_processes(
    tasks: dict[Hashable, tuple[Callable, tuple]], jobs: int, describe: Callable[[Hashable], str]
) -> dict:
    """Each task's ``function(*arguments)`` by its key, ``jobs`` processes at a time, with a
    line on stderr as each is collected (in the tasks' order): studies that train one model
    per process on two cores."""
    with ProcessPoolExecutor(jobs) as pool:
        futures = {key: pool.submit(function, *args) for key, (function, args) in tasks.items()}
        results = {}
        for done, (key, future) in enumerate(futures.items(), 1):
            results[key] = future.result()
            print(f"{done}/{len(futures)}: {describe(key)}", file=sys.stderr)
    return results


def table_head(columns: dict[str, str], panels: list[str]) -> str:
    """A Markdown table's first two lines: ``columns`` (name to alignment row cell, ``---`` or
    ``---:``), then one right-aligned column per panel."""
    names = [*columns, *panels]
    rules = [*columns.values(), *("---:" for _ in panels)]
    return f"| {' | '.join(names)} |\n| {' | '.join(rules)} |"
