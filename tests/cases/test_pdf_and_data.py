"""The explanation as PDF, the data export (JSON and PDF) and "who has looked at my data"."""

from __future__ import annotations

import json
import re
import zlib

from sqlalchemy import select

from portal.oversight.audit import Actor, record_event
from portal.oversight.models import AuditEvent


def pdf_streams_text(pdf: bytes) -> bytes:
    """The PDF's bytes with every Flate stream inflated (enough to find tags and metadata)."""
    out = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.S):
        try:
            out.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(out)


def last_event(session, action: str) -> AuditEvent:
    return session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
    ).first()


def test_explanation_pdf_is_a_tagged_pdf_in_danish(
    client, session, citizens, cases_of, login_citizen
):
    ledighed, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    answer = client.get(f"/mine-sager/{ledighed.public_id}/pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert "attachment" in answer.headers["Content-Disposition"]
    assert answer.headers["Cache-Control"] == "private, no-store"
    pdf = answer.data
    assert pdf.startswith(b"%PDF-")
    inflated = pdf_streams_text(pdf)
    assert b"/StructTreeRoot" in inflated  # tagged
    assert b"/Lang (da)" in inflated  # document language
    assert b"/FontFile" in inflated  # fonts embedded
    assert b"pdfuaid" in inflated  # PDF/UA identification in the XMP metadata
    assert b"Tilbud om jobrettet indsats" in inflated  # the title (XMP dc:title)
    event = last_event(session, "decision.pdf")
    assert event.decision_public_id == ledighed.public_id
    assert event.subject_key == ledighed.subject_key
    assert event.purpose == "own-case"


def test_pdf_of_another_citizens_case_is_not_found(client, citizens, cases_of, login_citizen):
    (jonas_case,) = cases_of(citizens["jonas"])
    login_citizen(citizens["anne"])
    assert client.get(f"/mine-sager/{jonas_case.public_id}/pdf").status_code == 404


def test_json_export_holds_everything_about_the_citizen(
    client, session, citizens, cases_of, login_citizen
):
    anne_cases = cases_of(citizens["anne"])
    (jonas_case,) = cases_of(citizens["jonas"])
    login_citizen(citizens["anne"])
    client.get(f"/mine-sager/{anne_cases[0].public_id}")
    answer = client.get("/mine-data.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert 'filename="mine-data.json"' in answer.headers["Content-Disposition"]
    body = json.loads(answer.data)
    assert {d["id"] for d in body["decisions"]} == {d.public_id for d in anne_cases}
    first = next(d for d in body["decisions"] if d["id"] == anne_cases[0].public_id)
    assert first["features"] == anne_cases[0].features
    assert first["data_sources"] == anne_cases[0].data_sources
    assert first["outcome"]["da"].startswith("Du får")
    assert first["explanation"]["output"] > 0
    assert {f["key"] for f in first["explanation"]["features"]} == set(anne_cases[0].features)
    assert any(e["action"] == "decision.viewed" for e in body["access_log"])
    text = answer.get_data(as_text=True)
    assert citizens["anne"].cpr not in text
    assert jonas_case.public_id not in text
    event = last_event(session, "data.exported")
    assert event.details == {"format": "json"}
    assert event.subject_key == anne_cases[0].subject_key


def test_pdf_export(client, session, citizens, cases_of, login_citizen):
    cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    answer = client.get("/mine-data.pdf")
    assert answer.status_code == 200
    assert answer.data.startswith(b"%PDF-")
    assert b"/Lang (da)" in pdf_streams_text(answer.data)
    assert last_event(session, "data.exported").details == {"format": "pdf"}


def test_my_data_page_links_the_downloads(client, citizens, cases_of, login_citizen):
    cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    html = client.get("/mine-data").get_data(as_text=True)
    for link in ("/mine-data.json", "/mine-data.pdf", "/mine-data/log"):
        assert f'href="{link}"' in html


def test_access_log_shows_role_and_unit_never_staff_identity(
    client, session, citizens, cases_of, login_citizen
):
    anne_case, _ = cases_of(citizens["anne"])
    (jonas_case,) = cases_of(citizens["jonas"])
    staff = Actor(kind="staff", ref="staff:4711", role="caseworker")
    record_event(
        session,
        staff,
        "decision.viewed",
        purpose="casework",
        decision_public_id=anne_case.public_id,
        subject_key=anne_case.subject_key,
        details={"unit": "Jobcenter København, Team Vest"},
    )
    record_event(
        session,
        staff,
        "decision.viewed",
        purpose="casework",
        decision_public_id=jonas_case.public_id,
        subject_key=jonas_case.subject_key,
        details={"unit": "Jobcenter København, Team Nord"},
    )
    session.commit()
    login_citizen(citizens["anne"])
    client.get(f"/mine-sager/{anne_case.public_id}")
    html = client.get("/mine-data/log").get_data(as_text=True)
    rows = re.findall(
        r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>",
        html,
    )
    whos = [(r[1], r[2], r[3], r[4]) for r in rows]
    assert (
        "Sagsbehandler",
        "Jobcenter København, Team Vest",
        "Så sagen",
        "For at behandle din sag",
    ) in whos
    assert ("Dig", "", "Så sagen", "Du har ret til at se din egen sag") in whos
    assert "staff:4711" not in html
    assert "4711" not in html
    assert "Team Nord" not in html
    assert jonas_case.public_id not in html
    assert re.search(r"\d{1,2}\. [a-zæøå]+ 2026 kl\. \d\d:\d\d", rows[0][0])


def _link_targets(pdf: bytes) -> list[str]:
    import io

    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        return [
            str(annotation.A.URI)
            for page in document.pages
            for annotation in page.get("/Annots", [])
            if "/A" in annotation and "/URI" in annotation.A
        ]


def test_pdf_links_use_the_base_url_never_the_host_header(
    app, client, citizens, cases_of, login_citizen
):
    ledighed, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])

    from portal.auth.sessions import COOKIE_NAME

    cookie = client.get_cookie(COOKIE_NAME)
    assert cookie is not None
    # (The test client only sends its cookies to their own host: sent by hand here.)
    answer = app.test_client(use_cookies=False).get(
        f"/mine-sager/{ledighed.public_id}/pdf",
        headers={"Host": "evil.example", "Cookie": f"{COOKIE_NAME}={cookie.value}"},
    )

    assert answer.status_code == 200
    links = _link_targets(answer.data)
    base = app.config["SETTINGS"].base_url.rstrip("/")
    assert any(link.startswith(base + "/algoritmer/") for link in links), links
    assert not [link for link in links if "evil.example" in link]
