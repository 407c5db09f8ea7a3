"""Catalog checks and language selection. Danish is the source of truth for citizen texts."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal.i18n import format_date, format_number

PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|\{(\w+)\}")


def _catalog(root: Path, language: str):
    with (root / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


def _ids(catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_template_matches_a_fresh_extraction(project_root: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--no-location",
            "-o",
            str(fresh),
            ".",
        ],
        cwd=project_root,
        check=True,
        capture_output=True,
    )
    with fresh.open("rb") as fh:
        extracted = _ids(read_po(fh))
    with (project_root / "translations" / "messages.pot").open("rb") as fh:
        committed = _ids(read_po(fh))
    assert extracted - committed == set(), "new texts: run `make translations-extract`"
    assert committed - extracted == set(), "stale texts: run `make translations-extract`"


@pytest.mark.parametrize("language", ["da", "en"])
def test_catalog_holds_every_text(project_root: Path, language: str) -> None:
    with (project_root / "translations" / "messages.pot").open("rb") as fh:
        template = _ids(read_po(fh))
    assert template - _ids(_catalog(project_root, language)) == set()


def test_danish_catalog_is_complete_and_not_fuzzy(project_root: Path) -> None:
    catalog = _catalog(project_root, "da")
    untranslated = [
        m.id
        for m in catalog
        if m.id and not (m.string if isinstance(m.string, str) else all(m.string))
    ]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == []
    assert fuzzy == []


@pytest.mark.parametrize("language", ["da", "en"])
def test_placeholders_agree(project_root: Path, language: str) -> None:
    mismatched = []
    for message in _catalog(project_root, language):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = {p for text in ids for p in PLACEHOLDER.findall(text)}
        for text in strings:
            if text and set(PLACEHOLDER.findall(text)) != wanted:
                mismatched.append((message.id, text))
    assert mismatched == []


def test_numbers_and_dates_are_formatted_by_babel() -> None:
    assert format_number(1234.5, 2, language="da") == "1.234,50"
    assert format_number(1234.5, 2, language="en") == "1,234.50"
    assert format_date(dt.date(2026, 11, 29), language="da") == "29. november 2026"
    assert format_date(dt.date(2026, 11, 29), language="en") == "November 29, 2026"


def _h1(response) -> str:
    return re.search(r"<h1[^>]*>(.*?)</h1>", response.get_data(as_text=True), re.S).group(1)


def test_danish_is_the_default(client) -> None:
    assert _h1(client.get("/")) == "Hvorfor endte din sag, som den gjorde?"
    assert 'lang="da"' in client.get("/").get_data(as_text=True)


def test_accept_language_is_honoured(client) -> None:
    response = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert _h1(response) == "Why did your case go the way it did?"


def test_query_parameter_wins_over_accept_language(client) -> None:
    response = client.get("/?lang=da", headers={"Accept-Language": "en"})
    assert _h1(response).startswith("Hvorfor")


def test_language_switch_keeps_the_page_and_remembers_the_choice(client) -> None:
    response = client.get("/sprog/en?next=/algoritmer")
    assert response.status_code == 303
    assert response.headers["Location"] == "/algoritmer"
    assert "Algorithm register" in client.get("/algoritmer").get_data(as_text=True)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"]
)
def test_language_switch_does_not_redirect_off_site(client, target: str) -> None:
    # Refused outright (issue 14), not followed and not quietly replaced.
    response = client.get("/sprog/en", query_string={"next": target})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_unknown_language_is_not_found(client) -> None:
    assert client.get("/sprog/xx").status_code == 404
