"""The principal in the session, the access decorators, login_as and the audit actor."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.auth.principal import Principal, audit_actor, staff_required
from portal.auth.sessions import session_interface
from portal.crypto import lookup_key

# tests/conftest.py's defaults (the decision and system factories use the same).
DEFAULT_TEST_CPR = "0101901234"
DEFAULT_TEST_UNIT = "Testforvaltningen"


def _login_in(app: Flask, client: FlaskClient, principal_data: dict) -> None:
    interface = session_interface(app)
    client.set_cookie(interface.cookie_name, interface.create({"principal": principal_data}))


CITIZEN = {
    "kind": "citizen",
    "subject_key": "abc",
    "account_id": 7,
    "staff_id": None,
    "role": "citizen",
    "unit": None,
    "display": "",
}
CASEWORKER = {
    "kind": "staff",
    "subject_key": None,
    "account_id": None,
    "staff_id": 3,
    "role": "caseworker",
    "unit": "Team Vest",
    "display": "Kim",
}
AUDITOR = {**CASEWORKER, "role": "auditor", "staff_id": 4}


def test_anonymous_is_sent_to_login_with_next(probe_client: FlaskClient) -> None:
    response = probe_client.get("/_probe/citizen?x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/_probe/citizen?x%3D1"
    response = probe_client.get("/_probe/caseworker")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=/_probe/caseworker")


def test_citizen_gets_citizen_pages_and_neutral_display(
    probe_app: Flask, probe_client: FlaskClient
) -> None:
    _login_in(probe_app, probe_client, CITIZEN)
    response = probe_client.get("/_probe/citizen")
    assert response.status_code == 200
    assert response.json == {"subject_key": "abc", "display": "Du er logget ind"}
    assert probe_client.get("/_probe/citizen?lang=en").json["display"] == "You are logged in"


def test_citizen_on_staff_page_is_forbidden(probe_app: Flask, probe_client: FlaskClient) -> None:
    _login_in(probe_app, probe_client, CITIZEN)
    assert probe_client.get("/_probe/caseworker").status_code == 403
    assert probe_client.get("/_probe/staff").status_code == 403


def test_staff_on_citizen_page_gets_not_found(probe_app: Flask, probe_client: FlaskClient) -> None:
    _login_in(probe_app, probe_client, CASEWORKER)
    assert probe_client.get("/_probe/citizen").status_code == 404
    assert probe_client.get("/_probe/caseworker").status_code == 200


def test_staff_role_is_checked(probe_app: Flask, probe_client: FlaskClient) -> None:
    _login_in(probe_app, probe_client, AUDITOR)
    assert probe_client.get("/_probe/caseworker").status_code == 403
    assert probe_client.get("/_probe/staff").status_code == 200


@pytest.mark.parametrize(
    "data",
    [
        {**CITIZEN, "role": "admin"},  # a citizen can never carry a staff role
        {**CASEWORKER, "role": "citizen"},
        {**CASEWORKER, "role": "superuser"},
        {"kind": "staff"},
    ],
)
def test_malformed_principal_in_session_is_anonymous(
    probe_app: Flask, probe_client: FlaskClient, data: dict
) -> None:
    _login_in(probe_app, probe_client, data)
    assert probe_client.get("/_probe/staff").status_code == 303
    assert probe_client.get("/_probe/citizen").status_code == 303


def test_staff_required_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="superuser"):
        staff_required("superuser")


def test_audit_actor_holds_no_personal_data() -> None:
    citizen = Principal("citizen", "key", 7, None, "citizen", None, "Du er logget ind")
    actor = audit_actor(citizen)
    assert (actor.kind, actor.ref, actor.role) == ("citizen", "citizen-account:7", "citizen")
    staff = Principal("staff", None, None, 3, "caseworker", "Team Vest", "Kim Hansen")
    actor = audit_actor(staff)
    assert (actor.kind, actor.ref, actor.role) == ("staff", "staff:3", "caseworker")
    assert "Kim" not in actor.ref


def test_login_as_citizen_defaults_to_the_factory_cpr(
    app: Flask, login_as, client: FlaskClient
) -> None:
    principal = login_as("citizen")
    assert principal.kind == "citizen"
    assert principal.subject_key == lookup_key(app.config["SETTINGS"].lookup_key, DEFAULT_TEST_CPR)
    assert principal.account_id is not None
    page = client.get("/login")
    assert "Du er logget ind" in page.get_data(as_text=True)


@pytest.mark.parametrize("role", ["caseworker", "auditor", "admin"])
def test_login_as_staff(login_as, client: FlaskClient, role: str) -> None:
    principal = login_as(role, unit="Team Øst")
    assert (principal.kind, principal.role, principal.unit) == ("staff", role, "Team Øst")
    assert principal.staff_id is not None
    assert "Du er allerede logget ind" in client.get("/login").get_data(as_text=True)


def test_login_as_caseworker_default_unit_and_switching(login_as) -> None:
    assert login_as("caseworker").unit == DEFAULT_TEST_UNIT
    assert login_as("citizen", subject_key="k2").subject_key == "k2"
    with pytest.raises(ValueError, match="nobody"):
        login_as("nobody")
