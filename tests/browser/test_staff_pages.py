"""A caseworker logs in through the real OpenID provider in headless Chromium, finds a case,
opens it with a purpose, overrides the model with a reason and answers the citizen's
request; then the citizen logs in and sees the assessment, the answer and the access-log
entry. axe-core checks every staff page at 390 and 1280 px.

The harness is the login tests' (tests/auth/oidc_support.py): panva's ``oidc-provider`` and
the portal in werkzeug on 127.0.0.1 with its own committed SQLite file of demo cases.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pikepdf
import pytest
from conftest import AXE, demo_login, oidc_portal_server, serve
from factories_cases import SeededDatabase, bodies_of, seed_database_file
from flask import Flask
from sqlalchemy import select

from portal import create_app
from portal.cases.models import CitizenRequest
from portal.db_session import get_db
from portal.decisions.models import Decision
from tests.auth.oidc_support import (
    ACCOUNTS,
    CPR_CLAIM,
)

pytestmark = [pytest.mark.browser, pytest.mark.oidc, pytest.mark.slow]

CITIZEN = "anne"
CASEWORKER = "birte"
CPR = ACCOUNTS[CITIZEN]["claims"][CPR_CLAIM]
UNIT = ACCOUNTS[CASEWORKER]["claims"]["unit"]
WIDTHS = (390, 1280)
WCAG = """async () => await axe.run(document, {runOnly: {type: "tag",
            values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""


@dataclass
class StaffPortal:
    base_url: str
    app: Flask
    seeded: SeededDatabase
    case_reference: str  # the citizen's unemployment case, in the caseworker's unit
    request_id: str  # the citizen's review request about it


@pytest.fixture(scope="module")
def staff_portal(
    tmp_path_factory: pytest.TempPathFactory, app_overrides: dict[str, Any]
) -> Iterator[StaffPortal]:
    database = tmp_path_factory.mktemp("staff") / "portal.db"
    with oidc_portal_server(database, app_overrides, staff=True) as (base_url, app, seeded):
        reference = next(
            b["case"]["reference"]
            for b in bodies_of(CPR)
            if b["model"]["name"] == "ledighedsrisiko"
        )
        with get_db(app).transaction() as db:
            decision = db.scalars(
                select(Decision).where(Decision.case_reference == reference)
            ).one()
            req = CitizenRequest(
                decision_id=decision.id,
                subject_key=decision.subject_key,
                kind="human-review",
                message="Jeg har fået arbejde siden.",
            )
            db.add(req)
            db.flush()
            request_id = req.public_id
        yield StaffPortal(base_url, app, seeded, reference, request_id)


def axe_at_both_widths(page: Any, report: dict[str, Any]) -> None:
    """Run axe-core on the page as it is, at 390 and at 1280 px."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(WCAG)
        assert result["passes"], page.url
        found = [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
        if found:
            report[f"{page.url} @{width}"] = found
    page.set_viewport_size({"width": 1280, "height": 900})


def provider_login(page: Any, base: str, link: str, account: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_role("link", name=link).click()
    page.wait_for_url(re.compile(r".*/interaction/[^/]+$"))
    page.get_by_label("Account").fill(account)
    page.get_by_role("button", name="Log in").click()


def test_caseworker_handles_a_case_and_the_citizen_sees_it(
    staff_portal: StaffPortal, new_page: Any
) -> None:
    base, report = staff_portal.base_url, {}
    page = new_page(bypass_csp=True, width=1280)
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))

    # The staff login lands on the caseworker's search.
    provider_login(page, base, "Log ind som medarbejder", CASEWORKER)
    page.wait_for_url(f"{base}/sagsbehandler")
    assert page.get_by_role("heading", level=1).inner_text() == "Find en sag"
    axe_at_both_widths(page, report)

    # Search by the exact case number.
    page.get_by_label("Sagsnummer (præcis)").fill(staff_portal.case_reference)
    page.get_by_role("button", name="Søg", exact=True).click()
    page.wait_for_url(re.compile(r".*/sagsbehandler\?.*reference="))
    axe_at_both_widths(page, report)
    page.get_by_role("link", name=staff_portal.case_reference).click()

    # The purpose is asked before the case opens.
    assert page.get_by_role("heading", name="Hvorfor åbner du sagen?").count() == 0
    assert page.get_by_text("Hvorfor åbner du sagen?").first.is_visible()
    page.get_by_role("button", name="Åbn sagen").click()  # no purpose chosen: an error
    assert page.get_by_text("Vælg, hvorfor du åbner sagen.").first.is_visible()
    axe_at_both_widths(page, report)
    page.get_by_label("Sagsbehandling").check()
    page.get_by_role("button", name="Åbn sagen").click()
    page.wait_for_url(re.compile(r".*/sagsbehandler/sager/[^/?]+\?formaal=casework&aaben=1$"))
    assert page.get_by_role("heading", name="For medarbejdere: model og beregning").is_visible()
    assert page.get_by_role("heading", name="Det vejede mest").is_visible()
    axe_at_both_widths(page, report)
    case_url = page.url

    # The citizen's explanation in English, the staff part still Danish.
    page.get_by_role("link", name="English", exact=True).last.click()
    assert page.get_by_role("heading", name="What weighed the most").is_visible()
    axe_at_both_widths(page, report)
    page.goto(case_url)

    # An override needs a reason; with one it is stored.
    page.get_by_label("Jeg tilsidesætter modellens råd").check()
    page.get_by_role("button", name="Gem vurderingen").click()
    assert page.get_by_text("Skriv, hvorfor du tilsidesætter modellens råd.").first.is_visible()
    axe_at_both_widths(page, report)
    page.get_by_label("Jeg tilsidesætter modellens råd").check()
    page.get_by_label("Begrundelse (skal udfyldes").fill("Borgeren er begyndt i job.")
    page.get_by_role("button", name="Gem vurderingen").click()
    page.wait_for_url(re.compile(r".*#staff-oversight$"))
    assert page.locator("#oversight-table").get_by_text("Borgeren er begyndt i job.").is_visible()

    # The letter attachment, from the link on the case page, with the caseworker's login.
    link = page.get_by_role("link", name="Hent bilaget på dansk (PDF)")
    pdf = page.request.get(base + link.get_attribute("href"))
    assert (pdf.status, pdf.headers["content-type"]) == (200, "application/pdf")
    with pikepdf.open(io.BytesIO(pdf.body())) as document:
        embedded = document.attachments["forklaring.json"].get_file().read_bytes()
        code = json.loads(embedded)["verification"]["code"]
    page.goto(f"{base}/bekraeft/{code}")
    assert page.get_by_text("Bilaget er ægte").first.is_visible()
    page.goto(case_url)

    # The citizen's request: answered.
    page.get_by_role("link", name="Borgernes anmodninger").first.click()
    page.wait_for_url(f"{base}/sagsbehandler/anmodninger")
    axe_at_both_widths(page, report)
    section = page.locator(f"#request-{staff_portal.request_id}")
    section.get_by_label("Ny status").select_option("answered")
    section.get_by_label("Svar til borgeren").fill("Vi ser på sagen igen og skriver til dig.")
    section.get_by_role("button", name="Gem").click()
    page.wait_for_url(re.compile(r".*/sagsbehandler/anmodninger(#.*)?$"))
    assert page.locator(f"#request-{staff_portal.request_id}").count() == 0  # no longer open
    page.get_by_role("button", name="Log ud").first.click()
    page.wait_for_url(f"{base}/logget-ud")
    assert {u: v for u, v in report.items() if v} == {}

    # The citizen sees the assessment, the answer and who looked, never a name.
    citizen = new_page()
    provider_login(citizen, base, "Log ind med MitID", CITIZEN)
    citizen.wait_for_url(f"{base}/mine-sager")
    title = next(
        b["case"]["title"]["da"]
        for b in bodies_of(CPR)
        if b["case"]["reference"] == staff_portal.case_reference
    )
    citizen.get_by_role("link", name=title).click()
    citizen.wait_for_url(re.compile(r".*/mine-sager/[^/]+$"))
    text = citizen.locator("main").inner_text()
    assert "En sagsbehandler har vurderet modellens råd." in text
    assert "Borgeren er begyndt i job." in text
    assert "Vi ser på sagen igen og skriver til dig." in text
    assert "Birte" not in text
    citizen.goto(f"{base}/mine-data/log")
    log = citizen.locator("main").inner_text()
    assert "Sagsbehandler" in log
    assert UNIT in log
    assert "For at behandle din sag" in log
    assert "Birte" not in log
    assert [u for u in visited if CPR in u] == []


@pytest.fixture(scope="module")
def demo_server(
    tmp_path_factory: pytest.TempPathFactory, app_overrides: dict[str, Any]
) -> Iterator[str]:
    """The demo portal on a database of its own (the staff pages write audit events)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('staff-demo') / 'portal.db'}"
    seeded = seed_database_file({**app_overrides, "database_url": url, "worker": "off"})
    app = create_app(seeded.overrides)
    with serve(app) as base_url:
        yield base_url
    get_db(app).engine.dispose()


def test_admin_overview_and_cpr_search_pass_axe(demo_server: str, new_page: Any) -> None:
    base, report = demo_server, {}
    page = new_page(bypass_csp=True, width=1280)
    demo_login(page, base, "Demo-administrator", next_path="/admin")
    assert page.get_by_role("heading", level=1).inner_text() == "Systemer og modeller"
    axe_at_both_widths(page, report)
    page.get_by_role("button", name="Log ud").first.click()
    demo_login(page, base, "Demo-sagsbehandler 1", next_path="/sagsbehandler")
    page.get_by_label("CPR-nummer").fill("3213991234")
    page.get_by_label("Hvorfor søger du?").select_option("casework")
    page.get_by_role("button", name="Søg på CPR-nummer").click()
    page.wait_for_url(f"{base}/sagsbehandler/cpr")
    assert page.get_by_role("heading", level=1).inner_text() == "Søg på CPR-nummer"
    axe_at_both_widths(page, report)
    page.goto(f"{base}/sagsbehandler?decided_from=2026-02-30")
    axe_at_both_widths(page, report)
    assert {u: v for u, v in report.items() if v} == {}
