"""The caseworker's pages through the test client: landing, search, purpose, case view,
oversight, answering requests, and what the citizen then sees; every bad input."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from portal.cases.models import CitizenRequest
from portal.letters.models import OversightRecord
from portal.oversight.models import AuditEvent

from .conftest import csrf_token


def count(session: Any, table: type, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(table).where(*where)) or 0


def case_url(decision: Any, **query: str) -> str:
    tail = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/sagsbehandler/sager/{decision.public_id}" + (f"?{tail}" if tail else "")


@pytest.fixture
def review(session: Any, cases: Any) -> CitizenRequest:
    req = CitizenRequest(
        decision_id=cases.ledighed.id,
        subject_key=cases.ledighed.subject_key,
        kind="human-review",
        message="Se på det igen.",
    )
    session.add(req)
    session.commit()
    return req


@pytest.mark.parametrize(
    ("person", "landing", "status"),
    [("staff:caseworker-1", "/sagsbehandler", 200), ("staff:admin", "/admin", 200)],
)
def test_demo_staff_land_on_their_page(
    client: Any, no_csrf: None, person: str, landing: str, status: int
) -> None:
    answer = client.post("/login/demo", data={"person": person})
    assert (answer.status_code, answer.headers["Location"]) == (303, landing)
    assert client.get(landing).status_code == status


def test_auditor_lands_on_tilsyn(client: Any, no_csrf: None) -> None:
    answer = client.post("/login/demo", data={"person": "staff:auditor"})
    assert answer.headers["Location"] == "/tilsyn"


def test_search_page_lists_the_units_cases(client: Any, cases: Any, caseworker: Any) -> None:
    html = client.get("/sagsbehandler").get_data(as_text=True)
    assert "Find en sag" in html
    assert cases.ledighed.case_reference in html
    assert cases.byggesag.case_reference not in html
    html = client.get(f"/sagsbehandler?reference={cases.byggesag.case_reference}").get_data(
        as_text=True
    )
    assert "0 sager fundet" in html
    assert "Der er ingen sag med sagsnummeret" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("decided_from=2026-02-30", "Skriv en rigtig dato (dag, måned og år)."),
        ("decided_from=2026-05-01&decided_to=2026-04-01", "Slutdatoen må ikke ligge før"),
        ("model=nope", "Vælg en af modellerne på listen."),
    ],
)
def test_bad_search_is_400(client: Any, cases: Any, caseworker: Any, query: str, message: str):
    answer = client.get(f"/sagsbehandler?{query}")
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)


def test_cpr_search_is_a_post_that_is_logged(
    client: Any, session: Any, cases: Any, caseworker: Any
) -> None:
    token = csrf_token(client, "/sagsbehandler")
    answer = client.post(
        "/sagsbehandler/cpr", data={"csrf_token": token, "cpr": cases.anne.cpr, "purpose": "klage"}
    )
    assert answer.status_code == 400  # "klage" is the label, the key is "complaint"
    assert "Vælg, hvorfor du søger." in answer.get_data(as_text=True)
    assert count(session, AuditEvent, AuditEvent.action == "search.cpr") == 0
    answer = client.post(
        "/sagsbehandler/cpr",
        data={"csrf_token": token, "cpr": cases.anne.cpr, "purpose": "complaint"},
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert cases.ledighed.case_reference in html
    assert cases.anne.cpr not in html  # not echoed back
    assert count(session, AuditEvent, AuditEvent.action == "search.cpr") == 1
    assert client.get(f"/sagsbehandler/cpr?cpr={cases.anne.cpr}").status_code == 405
    bad = client.post(
        "/sagsbehandler/cpr", data={"csrf_token": token, "cpr": "3213801234", "purpose": "casework"}
    )
    assert bad.status_code == 400
    assert "Skriv et rigtigt CPR-nummer" in bad.get_data(as_text=True)
    assert "3213801234" not in bad.get_data(as_text=True)
    assert count(session, AuditEvent, AuditEvent.action == "search.cpr") == 1


def test_a_case_asks_for_the_purpose_first_and_logs_nothing_until_then(
    client: Any, session: Any, cases: Any, caseworker: Any
) -> None:
    viewed = AuditEvent.action == "decision.viewed"
    html = client.get(case_url(cases.ledighed)).get_data(as_text=True)
    assert "Hvorfor åbner du sagen?" in html
    assert "Det vejede mest" not in html
    missing = client.get(case_url(cases.ledighed, formaal=""))
    assert missing.status_code == 400
    assert "Vælg, hvorfor du åbner sagen." in missing.get_data(as_text=True)
    assert client.get(case_url(cases.ledighed, formaal="nysgerrighed")).status_code == 400
    assert count(session, AuditEvent, viewed) == 0
    assert client.get(case_url(cases.byggesag, formaal="casework")).status_code == 404
    assert client.get("/sagsbehandler/sager/findes-ikke").status_code == 404
    assert count(session, AuditEvent, viewed) == 0


def test_the_case_shows_the_citizens_explanation_and_the_staff_details(
    client: Any, session: Any, cases: Any, caseworker: Any
) -> None:
    html = client.get(case_url(cases.ledighed, formaal="casework")).get_data(as_text=True)
    row = cases.ledighed.explanation
    for text in (row.artifact_sha256, row.background_sha256, row.shap_version, "Det vejede mest"):
        assert text in html
    assert f"/algoritmer/{cases.ledighed.model_version.name}" in html
    assert "En følsom oplysning" in html  # the demo case's sensitive-top flag
    english = client.get(case_url(cases.ledighed, formaal="casework", sprog="en"))
    text = english.get_data(as_text=True)
    assert "What weighed the most" in text
    assert 'lang="en"' in text
    assert "For medarbejdere: model og beregning" in text  # the staff part stays Danish
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "decision.viewed")
    ).first()
    assert (event.purpose, event.details["unit"]) == ("casework", cases.unit)


def test_an_override_needs_a_reason_and_the_citizen_sees_it_without_a_name(
    client: Any, session: Any, cases: Any, caseworker: Any, login_citizen: Any
) -> None:
    url = f"/sagsbehandler/sager/{cases.ledighed.public_id}/vurdering"
    token = csrf_token(client, case_url(cases.ledighed, formaal="casework"))
    refused = client.post(url, data={"csrf_token": token, "verdict": "overrode", "reason": " "})
    assert refused.status_code == 400
    assert "Skriv, hvorfor du tilsidesætter modellens råd." in refused.get_data(as_text=True)
    too_long = client.post(
        url, data={"csrf_token": token, "verdict": "agreed", "reason": "x" * 2001}
    )
    assert too_long.status_code == 400
    assert "Skriv højst 2000 tegn." in too_long.get_data(as_text=True)
    replayed = client.post(url, data={"verdict": "overrode", "reason": "Uden token."})
    assert replayed.status_code == 400
    assert "Formularen var udløbet" in replayed.get_data(as_text=True)
    assert count(session, OversightRecord) == 0
    saved = client.post(
        url,
        data={"csrf_token": token, "verdict": "overrode", "reason": "Borgeren har fået job."},
    )
    assert saved.status_code == 303
    assert count(session, OversightRecord) == 1

    login_citizen(cases.anne)
    page = client.get(f"/mine-sager/{cases.ledighed.public_id}").get_data(as_text=True)
    assert "En sagsbehandler har vurderet modellens råd." in page
    assert "Sagsbehandleren fulgte ikke modellens råd." in page
    assert "Borgeren har fået job." in page
    assert "Test caseworker" not in page
    log = client.get("/mine-data/log").get_data(as_text=True)
    assert "For at behandle din sag" in log
    assert cases.unit in log
    assert "Test caseworker" not in log


def test_answering_a_request_the_citizen_reads(
    client: Any, session: Any, cases: Any, caseworker: Any, review: Any, login_citizen: Any
) -> None:
    listing = client.get("/sagsbehandler/anmodninger").get_data(as_text=True)
    assert "Se på det igen." in listing
    assert "Svar senest" in listing
    url = f"/sagsbehandler/anmodninger/{review.public_id}"
    token = csrf_token(client, "/sagsbehandler/anmodninger")
    empty = client.post(url, data={"csrf_token": token, "status": "answered", "answer": ""})
    assert empty.status_code == 400
    assert "Skriv det svar, borgeren skal læse." in empty.get_data(as_text=True)
    bad = client.post(url, data={"csrf_token": token, "status": "deleted", "answer": "x"})
    assert bad.status_code == 400
    session.refresh(review)
    assert (review.status, review.answer) == ("received", None)
    done = client.post(
        url, data={"csrf_token": token, "status": "answered", "answer": "Vi har rettet det."}
    )
    assert done.status_code == 303
    again = client.post(url, data={"csrf_token": token, "status": "closed", "answer": ""})
    assert again.status_code == 409

    login_citizen(cases.anne)
    page = client.get(f"/mine-sager/{cases.ledighed.public_id}").get_data(as_text=True)
    assert "Vi har rettet det." in page
    log = client.get("/mine-data/log").get_data(as_text=True)
    assert "Behandlede din anmodning" in log


def test_another_units_request_is_404_and_unchanged(
    client: Any, session: Any, cases: Any, review: Any, login_as: Any, no_csrf: None
) -> None:
    login_as("caseworker", unit="Kultur- og Fritidsforvaltningen")
    answer = client.post(
        f"/sagsbehandler/anmodninger/{review.public_id}",
        data={"status": "answered", "answer": "Nej."},
    )
    assert answer.status_code == 404
    session.refresh(review)
    assert review.status == "received"
    assert count(session, AuditEvent, AuditEvent.action == "request.updated") == 0


def test_admin_overview_lists_systems_and_models(client: Any, cases: Any, login_as: Any) -> None:
    login_as("admin")
    html = client.get("/admin").get_data(as_text=True)
    assert "Systemer og modeller" in html
    assert cases.world.system.name in html
    assert "ledighedsrisiko" in html
    assert "byggesagsscreening" in html


def test_a_corrected_decision_links_both_ways_for_staff(
    client: Any, session: Any, cases: Any, caseworker: Any
) -> None:
    from factories_cases import add_decision, bodies_of

    from .conftest import TEST_LOOKUP_KEY

    body = bodies_of(cases.anne.cpr)[0]
    new = add_decision(session, cases.world, body, lookup_secret=TEST_LOOKUP_KEY)
    new.supersedes = cases.ledighed.public_id
    session.commit()
    old_page = client.get(case_url(cases.ledighed, formaal="casework")).get_data(as_text=True)
    assert f"/sagsbehandler/sager/{new.public_id}?formaal=casework" in old_page
    assert "Erstattet af en rettet afgørelse" in old_page
    new_page = client.get(case_url(new, formaal="casework")).get_data(as_text=True)
    assert f"/sagsbehandler/sager/{cases.ledighed.public_id}?formaal=casework" in new_page
