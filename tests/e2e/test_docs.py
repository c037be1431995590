"""The documentation holds together: every ``docs/…`` reference in the code, the parameters
and the README names a file that exists and, where it names a section ("docs/design.md,
Metrics" or "docs/design.md#metrics"), a heading of that file; the README stays a short
guide whose local links resolve."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from conftest import REPO

README_MAX_LINES = 250
CI_COMMAND = (  # the page test drives Debian's Chromium (tests/jobs/test_report.py)
    "(command -v chromium || (apt-get update -qq && apt-get install -y -qq chromium)) "
    ">/dev/null && python3 -m pip install -q uv && uv sync --locked && uv run pytest"
)

# docs/<file> then, optionally, a section: "#anchor", or ", Section Name" up to a closing
# parenthesis (the section may be in double quotes, the file in quotes or backticks). A
# section starts with a capital letter, so prose after a comma is not taken for one.
REFERENCE = re.compile(
    r"docs/(?P<file>[\w./-]+\.(?:md|png))"
    r"(?:#(?P<anchor>[\w-]+)|[`'\"]*,\s*\"?(?P<section>[A-Z][^\"()\n]*?)\"?\))?"
)
LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?:#[^)]*)?\)")


def sources() -> list[Path]:
    found = [REPO / "params.yaml", REPO / "README.md", REPO / "dvc.yaml"]
    for folder in ("src", "tests", "benchmarks"):
        found += sorted(
            path
            for path in (REPO / folder).rglob("*")
            if path.suffix in {".py", ".yaml", ".md"} and path.is_file()
        )
    return [path for path in found if path != Path(__file__).resolve()]  # its own examples


def references() -> list[tuple[str, str, str | None, str | None]]:
    """(where, file, anchor, section) for every reference, ``where`` as ``path:line``."""
    found = []
    for path in sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in REFERENCE.finditer(line):
                where = f"{path.relative_to(REPO)}:{number}"
                found.append((where, match["file"], match["anchor"], match["section"]))
    return found


def headings(path: Path) -> list[str]:
    """The file's Markdown headings, outside fenced code."""
    result, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)):
            result.append(match[1])
    return result


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = (
        c
        for c in heading.lower()
        if c in " -_" or (unicodedata.category(c)[0] in "LN" and unicodedata.category(c) != "No")
    )
    return "".join(kept).replace(" ", "-")


def plain(heading: str) -> str:
    return heading.replace("`", "").strip().lower()


CITED = references()


def test_the_code_cites_the_docs():
    assert len(CITED) >= 20, "the references were not found: has the pattern broken?"
    assert any(section for *_, section in CITED)


@pytest.mark.parametrize(("where", "name", "anchor", "section"), CITED, ids=[c[0] for c in CITED])
def test_reference_resolves(where, name, anchor, section):
    target = REPO / "docs" / name
    assert target.is_file(), f"{where}: docs/{name} does not exist"
    if anchor is None and section is None:
        return
    found = headings(target)
    if anchor is not None:
        assert anchor in {slug(h) for h in found}, f"{where}: docs/{name} has no #{anchor}"
    else:
        assert plain(section) in {plain(h) for h in found}, (
            f"{where}: docs/{name} has no section {section!r}; its headings: {found}"
        )


def test_no_reference_to_the_old_design_document():
    for path in sources():
        text = path.read_text(encoding="utf-8")
        assert "DESIGN §" not in text and "DESIGN.md" not in text, path


def test_readme_is_a_short_guide_that_starts_with_the_ci_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines"
    assert CI_COMMAND in "\n".join(lines[:20])
    assert (REPO / ".ci" / "run").read_text().rstrip().endswith(CI_COMMAND)


def test_readme_links_resolve():
    """Links to files in the repository; ``reports/`` is made by the jobs, so not checked."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for match in LINK.finditer(readme):
        target = match["target"]
        if "://" in target or target.startswith(("reports/", "mailto:")):
            continue
        assert (REPO / target).exists(), f"README.md links to {target}, which does not exist"
