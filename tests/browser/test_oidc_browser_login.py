"""A citizen logs in through the real OpenID provider in headless Chromium and uses the
portal: the case list, a case, the language switch, the PDF, and logging out.

The provider is tests/oidc/provider.mjs (panva's certified ``oidc-provider``) started by
the login tests' harness (tests/auth/oidc_support.py); the portal runs in werkzeug on
127.0.0.1 with its own committed SQLite file, seeded by the same factories as the other
browser tests. The provider's test person "anne" has the CPR of demo citizen Anne Jensen,
who owns decisions in that database. Demo login is off: MitID is the only way in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import oidc_portal_server
from factories_cases import SeededDatabase, bodies_of
from flask import Flask

# As a module of the namespace package ``tests`` (the project root is on sys.path):
# tests/auth is not on sys.path when only tests/browser is collected.
from tests.auth.oidc_support import ACCOUNTS, CPR_CLAIM

pytestmark = [pytest.mark.browser, pytest.mark.oidc, pytest.mark.slow]

ACCOUNT = "anne"  # the provider's test person
CPR = ACCOUNTS[ACCOUNT]["claims"][CPR_CLAIM]


@dataclass
class OIDCPortal:
    base_url: str
    app: Flask
    seeded: SeededDatabase


@pytest.fixture(scope="module")
def oidc_portal(
    tmp_path_factory: pytest.TempPathFactory, app_overrides: dict[str, Any]
) -> Iterator[OIDCPortal]:
    database = tmp_path_factory.mktemp("oidc-browser") / "portal.db"
    with oidc_portal_server(database, app_overrides) as (base_url, app, seeded):
        assert seeded.cases[CPR], "the provider's test person owns no decisions"
        yield OIDCPortal(base_url, app, seeded)


def test_citizen_logs_in_with_mitid_uses_the_portal_and_logs_out(
    oidc_portal: OIDCPortal, new_page: Any
) -> None:
    base = oidc_portal.base_url
    titles = {b["case"]["reference"]: b["case"]["title"] for b in bodies_of(CPR)}
    page = new_page()
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    page.on("request", lambda request: visited.append(request.url))  # redirects too

    # The portal's login page sends the citizen to the provider ...
    page.goto(f"{base}/login")
    assert page.locator("a[href*='/login/demo']").count() == 0  # MitID is the only way in
    page.get_by_role("link", name="Log ind med MitID").click()
    page.wait_for_url(re.compile(r".*/interaction/[^/]+$"))
    assert not page.url.startswith(base)

    # ... where the citizen logs in as a person would, and comes back to their cases.
    page.get_by_label("Account").fill(ACCOUNT)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/mine-sager")
    assert page.get_by_role("heading", level=1).inner_text() == "Mine sager"
    rows = page.locator("table tbody tr")
    assert rows.count() == len(oidc_portal.seeded.cases[CPR])
    listed = rows.locator("a").all_inner_texts()
    assert sorted(listed) == sorted(t["da"] for t in titles.values())

    # The case.
    link = rows.first.locator("a")
    title_da = link.inner_text()
    link.click()
    page.wait_for_url(re.compile(r".*/mine-sager/[A-Za-z0-9_-]+$"))
    case_url = page.url
    assert case_url.removeprefix(f"{base}/mine-sager/") in oidc_portal.seeded.cases[CPR]
    assert page.get_by_role("heading", level=1).inner_text() == title_da
    assert page.get_by_role("heading", name="Det vejede mest").is_visible()

    # The header's language switch: the same page in English, then back.
    title_en = next(t["en"] for t in titles.values() if t["da"] == title_da)
    page.get_by_role("link", name="English").click()
    page.wait_for_url(case_url)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == title_en
    assert page.get_by_role("heading", name="What weighed the most").is_visible()
    page.get_by_role("link", name="Dansk").click()
    page.wait_for_url(case_url)
    assert page.locator("html").get_attribute("lang") == "da"

    # The PDF.
    pdf_link = page.get_by_role("link", name="Hent forklaringen som PDF")
    pdf_url = base + (pdf_link.get_attribute("href") or "")
    with page.expect_download() as info:
        pdf_link.click()
    download = info.value
    visited.append(download.url)
    assert download.suggested_filename.endswith(".pdf")
    with open(download.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"

    # Logging out with the header's button ends the session: back to the login page.
    page.get_by_role("button", name="Log ud").click()
    page.wait_for_url(f"{base}/logget-ud")
    for path in ("/mine-sager", pdf_url.removeprefix(base)):
        response = page.request.get(base + path, max_redirects=0)
        visited.append(response.url)
        assert response.status == 303, path
        assert response.headers["location"].split("?")[0] in ("/login", f"{base}/login")
    page.goto(f"{base}/mine-sager")
    assert page.url.split("?")[0] == f"{base}/login"
    assert page.get_by_role("link", name="Log ind med MitID").is_visible()

    # The CPR number was in no URL the browser visited or requested, redirects included.
    assert any(url.startswith(base) for url in visited)
    assert any(not url.startswith(base) for url in visited)  # the provider's pages
    cpr_forms = (CPR, f"{CPR[:6]}-{CPR[6:]}")
    assert [url for url in visited if any(form in url for form in cpr_forms)] == []
