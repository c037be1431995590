"""The command line: help for every command, and the installed console script itself."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import strip_ansi

COMMANDS = (
    "synth", "ingest", "train", "combine", "separate", "evaluate", "report", "demo", "methods",
)  # fmt: skip


def test_help_lists_every_command(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (
            "ingest",
            ["--front", "--back", "--xray", "--mirror-back", "--truth-front", "--overwrite"],
        ),
        (
            "synth",
            ["--size", "--seed", "--mixture", "--grain", "--noise", "--factor", "metamerism"],
        ),
        ("train", ["--order", "--preset", "--iterations", "--device", "12 feeds (front, back)"]),
        ("separate", ["--model", "--device"]),
        ("demo", ["--preset", "--iterations"]),
    ],
)
def test_command_help_explains_arguments(cli, command, words):
    code, out, _ = cli(command, "--help")
    assert code == 0
    for word in words:
        assert word in out


def test_console_script_reports_user_errors_in_one_line(project):
    result = subprocess.run(
        [sys.executable, "-m", "xraysep", "evaluate", "missing"],
        capture_output=True,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 2
    assert strip_ansi(result.stderr).strip().splitlines() == [
        f"xraysep: error: {project / 'data' / 'panels' / 'missing.zarr'}: panel 'missing' not "
        "found; create it with `xraysep ingest` or `xraysep synth`"
    ]


def test_methods_lists_the_registry_and_the_help_names_every_method(cli):
    from xraysep.core.methods import REGISTRY

    code, out, _ = cli("methods")
    assert code == 0
    rows = {line.split("│")[1].strip() for line in out.splitlines() if line.count("│") == 4}
    assert rows - {"method", ""} == set(REGISTRY)
    assert "12, 21" in out and "nothing" in out
    _, help_text, _ = cli("train", "--help")
    words = " ".join(help_text.replace("│", " ").split())
    names = [*REGISTRY]
    listed = f"{', '.join(names[:-1])} or {names[-1]};"  # spaces: it wraps in a narrow terminal
    assert listed in words and "xraysep methods" in words
