"""Demo login: only in demo mode, clearly marked, POST with CSRF, never in production."""

from __future__ import annotations

from typing import Any

import pytest
from auth_support import csrf_from, make_probe_app
from db_support import rolled_back
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal import create_app
from portal.auth.models import CitizenAccount
from portal.config import ConfigError
from portal.crypto import lookup_key
from portal.db_session import get_db
from portal.demo import demo_citizens
from portal.oversight.models import AuditEvent


def test_demo_page_lists_made_up_people_and_says_so(probe_client: FlaskClient) -> None:
    page = probe_client.get("/login/demo")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="alert alert-warning"' in html
    assert "Dette er en demo" in html
    for citizen in demo_citizens():
        assert citizen.name in html
        assert citizen.cpr not in html  # the CPR is never shown, not even a fake one
    for role in ("Sagsbehandler", "Revisor", "Administrator"):
        assert role in html
    assert "Beskæftigelses- og Integrationsforvaltningen" in html
    assert "Teknik- og Miljøforvaltningen" in html


def test_demo_citizen_login_links_to_the_cases_by_lookup_key(
    probe_app: Flask, probe_client: FlaskClient
) -> None:
    csrf = csrf_from(probe_client.get("/login/demo").get_data(as_text=True))
    response = probe_client.post(
        "/login/demo", data={"person": "citizen:1", "csrf_token": csrf, "next": "/mine-sager/x"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/mine-sager/x"
    expected = lookup_key(probe_app.config["SETTINGS"].lookup_key, demo_citizens()[1].cpr)
    assert probe_client.get("/_probe/citizen").json["subject_key"] == expected
    with get_db(probe_app).transaction() as db:
        account = db.scalars(
            select(CitizenAccount).where(CitizenAccount.subject_key == expected)
        ).one()
        event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert account.issuer.startswith("urn:")
    assert (event.action, event.details["method"]) == ("auth.login", "demo")
    assert demo_citizens()[1].cpr not in repr(event.details)


def test_demo_next_must_be_local(probe_client: FlaskClient) -> None:
    csrf = csrf_from(probe_client.get("/login/demo").get_data(as_text=True))
    response = probe_client.post(
        "/login/demo",
        data={"person": "staff:admin", "csrf_token": csrf, "next": "https://evil.example/"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin"


@pytest.mark.parametrize(
    ("person", "allowed", "denied"),
    [
        ("staff:caseworker-1", "/_probe/caseworker", "/_probe/citizen"),
        ("staff:auditor", "/_probe/staff", "/_probe/caseworker"),
        ("citizen:0", "/_probe/citizen", "/_probe/staff"),
    ],
)
def test_demo_people_get_their_role(
    probe_client: FlaskClient, person: str, allowed: str, denied: str
) -> None:
    csrf = csrf_from(probe_client.get("/login/demo").get_data(as_text=True))
    assert (
        probe_client.post("/login/demo", data={"person": person, "csrf_token": csrf}).status_code
        == 303
    )
    assert probe_client.get(allowed).status_code == 200
    assert probe_client.get(denied).status_code in (403, 404)


@pytest.mark.parametrize("person", ["citizen:99", "citizen:-1", "staff:root", "nobody", ""])
def test_unknown_demo_person_is_refused(probe_client: FlaskClient, person: str) -> None:
    csrf = csrf_from(probe_client.get("/login/demo").get_data(as_text=True))
    response = probe_client.post("/login/demo", data={"person": person, "csrf_token": csrf})
    assert response.status_code == 400
    assert probe_client.get("/_probe/staff").status_code == 303


def test_demo_login_without_csrf_is_refused(probe_client: FlaskClient) -> None:
    response = probe_client.post("/login/demo", data={"person": "staff:admin"})
    assert response.status_code == 400
    assert probe_client.get("/_probe/staff").status_code == 303


def test_demo_login_is_404_when_demo_is_off(app: Flask, app_overrides: dict[str, Any]) -> None:
    probe = make_probe_app({**app_overrides, "demo": False})
    with rolled_back(probe):
        client = probe.test_client()
        assert client.get("/login/demo").status_code == 404
        assert client.post("/login/demo", data={"person": "staff:admin"}).status_code in (
            400,  # CSRF is checked first; either way nobody is logged in
            404,
        )
        assert client.get("/_probe/staff").status_code == 303
        assert "/login/demo" not in client.get("/login").get_data(as_text=True)
    get_db(probe).engine.dispose()


def test_login_page_offers_the_demo_only_in_demo_mode(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert "/login/demo" in html
    # No provider is configured in the test settings, so the MitID button is not shown.
    assert "/login/borger" not in html


def test_demo_cannot_be_enabled_in_production() -> None:
    with pytest.raises(ConfigError) as excinfo:
        create_app({"env": "production", "demo": True})
    assert any("PORTAL_DEMO" in p for p in excinfo.value.problems)
