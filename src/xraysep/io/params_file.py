"""Edits of ``params.yaml`` that keep every other line as it is (comments, layout)."""

from __future__ import annotations

import re
from pathlib import Path

from xraysep.errors import InputError
from xraysep.io.atomic import atomic_file
from xraysep.settings import PanelEntry, parse

BLOCK = re.compile(r"^panels:\s*(#.*)?$")


def _flow(entry: PanelEntry) -> str:
    values = entry.model_dump(exclude_defaults=True)
    return "{" + ", ".join(f"{k}: {str(v).lower()}" for k, v in values.items()) + "}"


def with_panel(path: Path, name: str, entry: PanelEntry) -> str | None:
    """The params file ``path``'s text with panel ``name`` listed with ``entry`` at the end of
    its ``panels`` block, or None when it is listed with that entry already. A panel listed
    with other options is an error: its entry is the user's to edit."""
    text = path.read_text()
    listed = parse(text, str(path)).panels
    if name in listed:
        if listed[name] == entry:
            return None
        raise InputError(
            f"{path}: panel {name!r} is listed already as {_flow(listed[name])}; "
            "edit that entry or choose another name"
        )
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if BLOCK.match(line)), None)
    if start is None:
        raise InputError(f"{path}: no top-level `panels:` section to list the panel in")
    entries = []
    for i in range(start + 1, len(lines)):
        if lines[i].strip() and not lines[i].startswith((" ", "\t")):
            break
        if lines[i].strip():
            entries.append(i)
    last = entries[-1] if entries else start
    indent = re.match(r"\s*", lines[entries[0]]).group() if entries else "  "
    lines.insert(last + 1, f"{indent}{name}: {_flow(entry)}\n")
    updated = "".join(lines)
    if parse(updated, str(path)).panels.get(name) != entry:
        raise InputError(f"{path}: could not list panel {name!r} in its `panels:` section")
    return updated


def replace(path: Path, text: str) -> None:
    """Write ``text`` as the params file ``path``, atomically."""
    with atomic_file(path) as temporary:
        temporary.write_text(text)
