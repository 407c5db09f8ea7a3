"""The public verification pages (/bekraeft) in headless Chromium: a code typed by hand, a
genuine attachment's address (the QR code's), a forged code and uploads, with axe-core
finding no WCAG 2.1 A/AA violation at 390 and 1280 px."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from conftest import AXE
from sqlalchemy import select

from portal import create_app
from portal.auth.models import StaffPrincipal
from portal.auth.principal import principal_session_data
from portal.auth.services import staff_principal
from portal.auth.sessions import session_interface
from portal.db_session import get_db
from portal.decisions.models import Decision
from portal.letters.services import embedded_code

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANNE_CPR = "0105852468"
WIDTHS = (390, 1280)


@pytest.fixture(scope="module")
def issued(seeded_db: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """An attachment of Anne's first case, made by a caseworker of its unit (through the app,
    on the live server's database): its code and its PDF file."""
    app = create_app(seeded_db.overrides)
    database = get_db(app)
    public_id = seeded_db.cases[ANNE_CPR][0]
    with database.transaction() as session:
        decision = session.scalar(select(Decision).where(Decision.public_id == public_id))
        staff = StaffPrincipal(
            issuer="urn:test",
            subject=secrets.token_hex(8),
            role="caseworker",
            unit=decision.model_version.responsible_unit,
        )
        session.add(staff)
        session.flush()
        principal = staff_principal(staff)
    interface = session_interface(app)
    client = app.test_client()
    client.set_cookie(
        interface.cookie_name, interface.create({"principal": principal_session_data(principal)})
    )
    answer = client.get(f"/sagsbehandler/sager/{public_id}/bilag.pdf")
    assert answer.status_code == 200
    path = tmp_path_factory.mktemp("bilag") / "bilag.pdf"
    path.write_bytes(answer.data)
    code = embedded_code(answer.data)
    assert code is not None
    database.engine.dispose()
    return code, path


def _verdict(page: Any) -> str:
    return str(page.locator("[data-verdict]").get_attribute("data-verdict"))


def test_a_typed_code_and_an_upload_get_their_answers(live_server, new_page, issued, tmp_path):
    code, pdf = issued
    page = new_page()
    page.goto(f"{live_server}/bekraeft")
    page.get_by_role("textbox", name="Kode").fill(code.replace("-", " ").lower())
    page.get_by_role("button", name="Tjek koden").click()
    page.wait_for_url(f"{live_server}/bekraeft/{code}")
    assert _verdict(page) == "genuine"
    assert "Bilaget er ægte" in page.locator("main").inner_text()

    page.goto(f"{live_server}/bekraeft")
    page.get_by_label("Bilaget som PDF-fil").set_input_files(str(pdf))
    page.get_by_role("button", name="Tjek filen").click()
    page.wait_for_load_state()
    assert _verdict(page) == "genuine"

    changed = tmp_path / "changed.pdf"
    data = pdf.read_bytes()
    at = data.index(b"stream\n") + 100
    changed.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
    page.goto(f"{live_server}/bekraeft")
    page.get_by_label("Bilaget som PDF-fil").set_input_files(str(changed))
    page.get_by_role("button", name="Tjek filen").click()
    page.wait_for_load_state()
    assert _verdict(page) == "changed"


@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_no_wcag_a_or_aa_violations_on_the_verification_pages(
    live_server, new_page, issued, tmp_path, width
):
    code, _pdf = issued
    page = new_page(width=width, bypass_csp=True)
    not_a_pdf = tmp_path / "letter.pdf"
    not_a_pdf.write_bytes(b"GIF89a this is not a PDF")
    report = {}

    def check(label: str) -> None:
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            """async () => await axe.run(document, {runOnly: {type: "tag",
                 values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
        )
        assert result["passes"], label
        report[label] = [
            (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
        ]

    for path in ("/bekraeft", f"/bekraeft/{code}", "/bekraeft/0000-0000-0000"):
        page.goto(live_server + path)
        check(path)
    page.goto(f"{live_server}/bekraeft")
    page.get_by_label("Bilaget som PDF-fil").set_input_files(str(not_a_pdf))
    page.get_by_role("button", name="Tjek filen").click()
    page.wait_for_load_state()
    assert _verdict(page) == "not-a-pdf"
    check("upload: not a PDF")
    page.goto(f"{live_server}/bekraeft")
    page.get_by_role("button", name="Tjek filen").click()  # no file chosen: a form error
    page.wait_for_load_state()
    check("upload: no file")
    assert {label: v for label, v in report.items() if v} == {}
