"""The README and docs/ hold up: their commands exist, their links lead somewhere inside the
repository, and nothing outside it is needed to read them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_two_commands_are_makefile_targets() -> None:
    block = _text(ROOT / "README.md").split("## Two commands", 1)[1].split("```sh", 1)[1]
    commands = re.findall(r"^make (\S+)", block.split("```", 1)[0], flags=re.MULTILINE)
    assert commands == ["demo", "test"]
    targets = set(re.findall(r"^([a-z-]+):", _text(ROOT / "Makefile"), flags=re.MULTILINE))
    assert set(commands) <= targets


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_links_stay_inside_the_repository(path: Path) -> None:
    text = _text(path)
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    missing = [t for t in local if not (path.parent / t).resolve().is_file()]
    outside = [t for t in local if not (path.parent / t).resolve().is_relative_to(ROOT)]
    assert (missing, outside) == ([], [])
    assert "../shared" not in text


def test_the_readme_is_short() -> None:
    assert len(_text(ROOT / "README.md").splitlines()) <= 200
