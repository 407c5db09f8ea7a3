"""Asking for human review (GDPR art. 22(3)) and reporting wrong data (art. 16)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from portal.cases.models import CitizenRequest
from portal.oversight.models import AuditEvent


def count_requests(session) -> int:
    return session.scalar(select(func.count()).select_from(CitizenRequest))


@pytest.fixture
def no_csrf(app, monkeypatch):
    """Forms without the CSRF token, to test the rules behind it (CSRF has its own test)."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)


@pytest.fixture
def anne_case(citizens, cases_of, login_citizen):
    ledighed, _ = cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    return ledighed


def csrf_token(client, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_review_request_is_stored_and_listed(client, session, anne_case):
    url = f"/mine-sager/{anne_case.public_id}/genvurdering"
    form = client.get(url)
    assert form.status_code == 200
    assert "Hvorfor vil du have, at en person ser på afgørelsen igen?" in form.get_data(
        as_text=True
    )
    answer = client.post(
        url, data={"csrf_token": csrf_token(client, url), "message": "  Jeg har fået nyt job.  "}
    )
    assert answer.status_code == 303
    stored = session.scalars(select(CitizenRequest)).all()
    assert len(stored) == 1
    req = stored[0]
    # the confirmation is a page of its own, so the citizen lands at its top
    assert answer.headers["Location"].endswith(
        f"/mine-sager/{anne_case.public_id}/anmodninger/{req.public_id}"
    )
    assert (req.kind, req.status, req.feature_key) == ("human-review", "received", None)
    assert req.message == "Jeg har fået nyt job."
    assert req.subject_key == anne_case.subject_key
    assert req.decision_id == anne_case.id
    confirmation = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Vi har fået din anmodning" in confirmation
    assert "Jeg har fået nyt job." in confirmation
    page = client.get(f"/mine-sager/{anne_case.public_id}").get_data(as_text=True)
    requests_part = page.split('id="requests-heading"', 1)[1]
    assert "Ny vurdering ved en person" in requests_part
    assert "Modtaget" in requests_part
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "request.created")).one()
    assert event.details["kind"] == "human-review"
    assert event.subject_key == anne_case.subject_key


def test_rectification_names_the_data_point(client, session, anne_case):
    url = f"/mine-sager/{anne_case.public_id}/forkerte-oplysninger"
    html = client.get(url).get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="([^"]*)"', html)
    keys = [f["key"] for f in anne_case.model_version.manifest["features"]]
    assert options == ["", *keys]
    assert "Antal uger som ledig" in html
    answer = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "data_point": "sygedage_12m",
            "message": "Jeg var kun syg i to dage.",
        },
    )
    assert answer.status_code == 303
    req = session.scalars(select(CitizenRequest)).one()
    assert (req.kind, req.feature_key) == ("rectification", "sygedage_12m")
    page = client.get(f"/mine-sager/{anne_case.public_id}").get_data(as_text=True)
    requests_part = page.split('id="requests-heading"', 1)[1]
    assert "Forkerte oplysninger" in requests_part
    assert "Sygedage de seneste 12 måneder" in requests_part


@pytest.mark.parametrize(
    ("path", "data", "error"),
    [
        ("genvurdering", {"message": ""}, "Skriv, hvorfor du vil have en ny vurdering."),
        ("genvurdering", {"message": "   \n "}, "Skriv, hvorfor du vil have en ny vurdering."),
        ("genvurdering", {"message": "x" * 2001}, "Skriv højst 2000 tegn."),
        (
            "forkerte-oplysninger",
            {"data_point": "", "message": "Forkert."},
            "Vælg den oplysning, der er forkert.",
        ),
        (
            "forkerte-oplysninger",
            {"data_point": "cpr", "message": "Forkert."},
            "Vælg en af oplysningerne på listen.",
        ),
        (
            "forkerte-oplysninger",
            {"data_point": "antal_bilag", "message": "Forkert."},
            "Vælg en af oplysningerne på listen.",
        ),  # a data point of another model
        (
            "forkerte-oplysninger",
            {"data_point": "alder", "message": ""},
            "Skriv, hvad der er forkert.",
        ),
        (
            "forkerte-oplysninger",
            {"data_point": "alder", "message": "y" * 2001},
            "Skriv højst 2000 tegn.",
        ),
    ],
)
def test_bad_input_gets_a_danish_error_and_nothing_is_stored(
    client, session, anne_case, no_csrf, path, data, error
):
    answer = client.post(f"/mine-sager/{anne_case.public_id}/{path}", data=data)
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert error in html
    assert 'class="alert alert-error error-summary"' in html
    assert count_requests(session) == 0


def test_exactly_the_limit_is_accepted(client, session, anne_case, no_csrf):
    answer = client.post(
        f"/mine-sager/{anne_case.public_id}/genvurdering", data={"message": "z" * 2000}
    )
    assert answer.status_code == 303
    assert count_requests(session) == 1


def test_another_citizens_decision_is_not_found_and_nothing_is_stored(
    client, session, citizens, cases_of, login_citizen, no_csrf
):
    (jonas_case,) = cases_of(citizens["jonas"])
    cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    for path, data in (
        ("genvurdering", {"message": "Se på den igen."}),
        ("forkerte-oplysninger", {"data_point": "alder", "message": "Forkert."}),
    ):
        answer = client.post(f"/mine-sager/{jonas_case.public_id}/{path}", data=data)
        assert answer.status_code == 404
    assert count_requests(session) == 0


def test_a_form_without_its_csrf_token_is_refused(client, session, anne_case):
    answer = client.post(
        f"/mine-sager/{anne_case.public_id}/genvurdering", data={"message": "Se på den igen."}
    )
    assert answer.status_code == 400
    assert count_requests(session) == 0


@pytest.mark.parametrize("path", ["genvurdering", "forkerte-oplysninger"])
def test_the_text_box_and_the_server_agree_on_the_limit(client, anne_case, path):
    from portal.cases.services import MAX_MESSAGE_LENGTH

    html = client.get(f"/mine-sager/{anne_case.public_id}/{path}").get_data(as_text=True)
    textarea = re.search(r"<textarea[^>]*>", html).group(0)
    assert f'maxlength="{MAX_MESSAGE_LENGTH}"' in textarea
    assert MAX_MESSAGE_LENGTH == 2000
    rows = int(re.search(r'rows="(\d+)"', textarea).group(1))
    assert rows >= 10  # room to see a long message
    assert f"Skriv højst {MAX_MESSAGE_LENGTH} tegn." in html


def test_the_confirmation_says_what_was_sent_and_by_when_we_answer(
    client, session, app, anne_case, no_csrf
):
    answer = client.post(
        f"/mine-sager/{anne_case.public_id}/forkerte-oplysninger",
        data={"data_point": "sygedage_12m", "message": "Jeg var kun syg i to dage."},
    )
    assert answer.status_code == 303
    req = session.scalars(select(CitizenRequest)).one()
    html = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "<h1" in html.split('id="main-content"', 1)[1][:2000]  # the heading comes first
    days = app.config["SETTINGS"].request_response_days
    from portal.i18n import format_date

    with app.test_request_context("/?lang=da"):
        deadline = format_date(req.created_at + dt.timedelta(days=days))
    assert f"Tak. Vi svarer dig senest {deadline}." in html
    assert "Sygedage de seneste 12 måneder" in html
    assert "Jeg var kun syg i to dage." in html
    assert anne_case.case_reference in html
    page = client.get(f"/mine-sager/{anne_case.public_id}").get_data(as_text=True)
    requests_part = page.split('id="requests-heading"', 1)[1]
    assert deadline in requests_part
    assert "Modtaget" in requests_part


def test_another_citizens_confirmation_is_not_found(
    client, session, citizens, cases_of, login_citizen, no_csrf
):
    (jonas_case,) = cases_of(citizens["jonas"])
    login_citizen(citizens["jonas"])
    answer = client.post(
        f"/mine-sager/{jonas_case.public_id}/genvurdering", data={"message": "Se igen."}
    )
    location = answer.headers["Location"]
    cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    assert client.get(location).status_code == 404
    assert (
        client.get(f"/mine-sager/{jonas_case.public_id}/anmodninger/findes-ikke").status_code == 404
    )


@pytest.mark.parametrize("days", [0, 31])
def test_response_days_outside_one_to_thirty_are_refused(days):
    from portal.config import ConfigError, Settings

    settings = Settings.load(environ={}, overrides={"request_response_days": days})
    with pytest.raises(ConfigError, match="PORTAL_REQUEST_RESPONSE_DAYS"):
        settings.validate()
