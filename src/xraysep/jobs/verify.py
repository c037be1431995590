"""Verify: check that panel stores and results stores are whole and as documented.

For each panel, the panel store ``data/panels/<name>.zarr`` and every results group of
``data/separated/<name>.zarr``: the arrays the next stage needs are there with their shapes
and types (``io.contents``), each result and input image of a results group is an OME-Zarr
image with the levels and scales its size calls for (``io.pyramid``), one row per image,
every shard file of every array and level is on disk, every chunk's checksum matches and
its values are finite and within the documented range, and the source files recorded at
ingest, where they still exist, have the SHA-256 recorded then. Each check is one row;
a row fails (``FAIL``), warns (``warn``: a store without checksums) or is skipped (``skip``:
a source file that is gone). Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import zarr
from rich.markup import escape
from rich.table import Table

from xraysep import config
from xraysep.errors import InputError, reason
from xraysep.io import contents, images, integrity, pyramid
from xraysep.io.atomic import recover

OK, FAIL, WARN, SKIP = "ok", "FAIL", "warn", "skip"
STYLES = {OK: "green", FAIL: "bold red", WARN: "yellow", SKIP: "dim"}


@dataclass(frozen=True)
class Row:
    """One checked thing of one store (an array, a source file) and how it went."""

    store: str
    item: str
    status: str
    detail: str


def shown(path: Path) -> str:
    """``path`` relative to the project root where it lies inside it."""
    root = config.project_root()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def chunk_problems(store: Path, key: str, array: zarr.Array, spec: contents.Spec) -> list[str]:
    """What is wrong with the shard files, the chunks' checksums and the values of one array
    (empty when nothing is); every chunk is read once."""
    problems = [
        f"shard file {key}/{missing} is missing"
        for missing in integrity.missing_shards(array, store / key)
    ]
    damaged, outside, total = [], [], 0
    for index, window in integrity.chunks_in(array, ()):
        total += 1
        try:
            values = array[window]
        except Exception as error:  # codecs raise many types on bad bytes
            why = "checksum mismatch" if "checksum" in str(error) else reason(error)
            damaged.append(integrity.describe(store, key, array, index, why))
            continue
        try:
            where = integrity.pixels(window, array.shape, integrity.spatial_axes(array))
            contents.check_values(store, key, values, spec, where)
        except InputError as error:
            outside.append(str(error))
    if damaged:
        problems.append(f"{len(damaged)} of {total} chunks damaged; first: {damaged[0]}")
    if outside:
        problems.append(f"{len(outside)} of {total} chunks out of range; first: {outside[0]}")
    return problems


def checked_row(
    store: Path, key: str, arrays: dict[str, zarr.Array], spec: contents.Spec, label: str
) -> Row:
    """The row of ``key``, whose ``arrays`` (one, or an image's levels) have the right shapes
    and types: every chunk of every array read; ``label`` tells what it is (``2 levels``)."""
    problems = [
        p for name, array in arrays.items() for p in chunk_problems(store, name, array, spec)
    ]
    chunks = sum(1 for array in arrays.values() for _ in integrity.chunks_in(array, ()))
    first = next(iter(arrays.values()))
    values = "RGB" if spec.channels else f"values {spec.bounds}"
    plural = "" if chunks == 1 else "s"
    summary = f"{'×'.join(map(str, first.shape))} {first.dtype}, {label}{chunks} chunk{plural}"
    if problems:
        return Row(shown(store), key, FAIL, "; ".join(problems))
    if not all(integrity.has_checksums(array) for array in arrays.values()):
        detail = f"{summary}, {values}; no checksums: damage undetectable, make it again"
        return Row(shown(store), key, WARN, detail)
    return Row(shown(store), key, OK, f"{summary}, checksums match, {values}")


def array_rows(
    store: Path, group: zarr.Group, specs: dict[str, contents.Spec], size: tuple[int, int]
) -> list[Row]:
    """One row per array in ``specs``: presence, shape and type, then every chunk."""
    rows = []
    for key, spec in specs.items():
        if key not in group:
            rows.append(Row(shown(store), key, FAIL, "missing; the next stage needs it"))
            continue
        try:
            contents.check_array(store, key, group[key], spec, size)
        except InputError as error:
            rows.append(Row(shown(store), key, FAIL, str(error)))
            continue
        rows.append(checked_row(store, key, {key: group[key]}, spec, ""))
    return rows


def image_rows(
    store: Path, group: zarr.Group, specs: dict[str, contents.Spec], size: tuple[int, int]
) -> list[Row]:
    """One row per OME-Zarr image in ``specs``: its levels' metadata, shapes and types, then
    every chunk of every level."""
    rows = []
    for key, spec in specs.items():
        try:
            arrays = pyramid.open_image(store, group, key, spec, size)
        except InputError as error:
            rows.append(Row(shown(store), key, FAIL, str(error)))
            continue
        rows.append(checked_row(store, key, arrays, spec, f"{len(arrays)} levels, "))
    return rows


def source_rows(store: Path, group: zarr.Group) -> list[Row]:
    """The source files recorded at ingest, where they still exist, are unchanged."""
    sources = dict(group.attrs).get("xraysep", {}).get("sources", {})
    if not sources:
        return [Row(shown(store), "sources", SKIP, "no source files recorded")]
    rows = []
    for key, source in sources.items():
        path = Path(source["path"])
        path = path if path.is_absolute() else config.project_root() / path
        item, name = f"source {key}", shown(path)
        if not path.is_file():
            rows.append(Row(shown(store), item, SKIP, f"{name} is gone"))
        elif images.sha256(path) != source["sha256"]:
            detail = f"{name} has changed since ingest (its SHA-256 differs)"
            rows.append(Row(shown(store), item, FAIL, detail))
        else:
            rows.append(Row(shown(store), item, OK, f"{name}: SHA-256 as at ingest"))
    return rows


def panel_rows(path: Path) -> tuple[list[Row], tuple[int, int] | None]:
    """The panel store's rows and its (H, W), None when it has no readable X-ray."""
    try:
        group = zarr.open_group(path, mode="r", zarr_format=3)
    except Exception as error:  # a missing or damaged zarr.json
        return [Row(shown(path), "zarr.json", FAIL, f"unreadable ({reason(error)})")], None
    if "xray" not in group:
        return [Row(shown(path), "xray", FAIL, "missing; the next stage needs it")], None
    size = tuple(group["xray"].shape[:2])
    truth = [key.removeprefix("truth/") for key in contents.TRUTH]
    specs = contents.PANEL
    if "truth" in group:
        present = [f"truth/{k}" for k in group["truth"].array_keys()]
        extra = [k for k in present if k not in contents.TRUTH]
        specs = specs | contents.TRUTH | {k: contents.panel_spec(k) for k in extra}
    rows = array_rows(path, group, specs, size)
    if "truth" not in group:
        rows.append(Row(shown(path), "truth", SKIP, f"no {' or '.join(truth)} (not synthetic)"))
    return rows + source_rows(path, group), size


def results_rows(path: Path, size: tuple[int, int] | None) -> list[Row]:
    """Rows of every results group (one per model version) in a results store."""
    if not path.is_dir():
        return [Row(shown(path), "results", SKIP, "not separated yet")]
    rows = []
    for version in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            group = zarr.open_group(version, mode="r", zarr_format=3)
        except Exception as error:  # a missing or damaged zarr.json
            rows.append(Row(shown(version), "zarr.json", FAIL, f"unreadable ({reason(error)})"))
            continue
        outputs = group.attrs.get("outputs", contents.REQUIRED_RESULTS)
        specs = {key: contents.RESULTS[key] for key in outputs}
        specs |= contents.INPUTS
        rows.extend(image_rows(version, group, specs, size or own_size(group, outputs)))
    return rows


def own_size(group: zarr.Group, keys: list[str]) -> tuple[int, int]:
    """(H, W) of the first of the images ``keys`` present in ``group`` (its level 0), for
    results without a panel."""
    present = [group[f"{key}/0"].shape[-2:] for key in keys if f"{key}/0" in group]
    return tuple(present[0]) if present else (0, 0)


def panels() -> list[str]:
    """The names of every panel store under ``data/panels``."""
    folder = config.project_root() / "data" / "panels"
    recover(folder)
    return sorted(p.name.removesuffix(".zarr") for p in folder.glob("[!.]*.zarr"))


def verify(names: list[str] | None = None) -> list[Row]:
    """Check the stores of ``names`` (default: every panel); returns one row per check."""
    names = names or panels()
    if not names:
        raise InputError(f"{config.project_root() / 'data' / 'panels'}: no panel stores to verify")
    rows = []
    for name in names:
        where = config.paths(name)
        recover(where.store.parent)
        if not (where.store / "zarr.json").is_file() and not where.separated_store.is_dir():
            raise InputError(f"{where.store}: panel {name!r} not found")
        found, size = panel_rows(where.store)
        rows += found + results_rows(where.separated_store, size)
    return rows


def table(rows: list[Row]) -> Table:
    """The rows as a rich table, failures in red."""
    result = Table(title="xraysep verify")
    for column in ("store", "array or file", "result", "detail"):
        result.add_column(column, overflow="fold")
    for row in rows:
        status = f"[{STYLES[row.status]}]{row.status}[/]"
        result.add_row(escape(row.store), escape(row.item), status, escape(row.detail))
    return result
