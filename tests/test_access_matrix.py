"""Who may do what: one table, (method, route, role) -> expected answer, for every route.

Every rule the app registers is a row (``test_every_route_is_in_the_matrix`` fails on a new
route until it is added here), and every row is tried for every role:

- ``anonymous``: no session, no signature;
- ``citizen``: the citizen whose case it is; ``other_citizen``: a citizen with cases of
  their own; ``citizen_without_cases``;
- ``caseworker`` of the unit responsible for the case; ``other_unit_caseworker`` (the
  case and its requests do not exist for them: 404); ``auditor``; ``admin`` (citizen pages
  are not theirs: 404, as for a case that does not exist; the caseworker pages answer other
  roles 403, the administrator's overview is the admin's only; the letter attachment is
  only the case unit's caseworker's, 404 for everyone else; the dashboards at /tilsyn are
  the auditor's and the admin's, 403 for everyone else logged in);
- ``machine``: the decision-support system that sent the case and registered its model,
  signing every request (Standard Webhooks) over the exact bytes it sends.

Only the owner ever sees a case; for everyone else logged in it does not exist. Citizen pages
send a visitor without a session (signed or not) to the login page. The machine API answers
401 to anything unsigned, whoever is logged in in a browser. A refused request stores
nothing. The CSRF check is off here so the table tests access, not tokens (CSRF has its own
tests); a logged-out POST would otherwise stop at the token with a 400.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from factories_cases import add_citizen_cases, add_world, bodies_of, demo_citizens, demo_models
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.api.signing import sign
from portal.auth.models import StaffPrincipal
from portal.cases.exports import attach_file
from portal.cases.models import CitizenRequest, PdfExport
from portal.crypto import lookup_key
from portal.db import utcnow
from portal.decisions.models import Decision
from portal.letters.models import LetterAttachment, OversightRecord
from portal.registry import admin
from portal.registry.models import ModelVersion
from portal.supervision.models import DecisionOutcome

CITIZENS = ("citizen", "other_citizen", "citizen_without_cases")
STAFF = ("caseworker", "other_unit_caseworker", "auditor", "admin")
ROLES = ("anonymous", *CITIZENS, *STAFF, "machine")
OTHER_UNIT = "Kultur- og Fritidsforvaltningen"


@dataclass(frozen=True)
class Expect:
    """An answer: its status and, for a redirect, where it leads (``{case}``: the case id)."""

    status: int
    location: str | None = None


OK = Expect(200)
NOT_FOUND = Expect(404)
UNSIGNED = Expect(401)
LOGIN = Expect(303, "/login?next=")
FORBIDDEN = Expect(403)


def everyone(answer: Expect) -> dict[str, Expect]:
    return dict.fromkeys(ROLES, answer)


def citizen_page(owner: Expect, other_citizens: Expect) -> dict[str, Expect]:
    """A citizen page: ``owner`` for the case's citizen, ``other_citizens`` for the rest."""
    return {
        "anonymous": LOGIN,
        "machine": LOGIN,
        "citizen": owner,
        "other_citizen": other_citizens,
        "citizen_without_cases": other_citizens,
        **dict.fromkeys(STAFF, NOT_FOUND),
    }


def staff_page(
    roles: tuple[str, ...], own_unit: Expect, other_unit: Expect | None = None
) -> dict[str, Expect]:
    """A staff page for ``roles``: ``own_unit`` for the case's caseworker (and the admin),
    ``other_unit`` for another unit's caseworker; 403 for other logged-in people."""
    answers = {
        **dict.fromkeys(ROLES, FORBIDDEN),
        "anonymous": LOGIN,
        "machine": LOGIN,
    }
    for role in roles:
        answers[role] = own_unit
    if "caseworker" in roles:
        answers["other_unit_caseworker"] = other_unit or own_unit
    return answers


def signed_only(answer: Expect) -> dict[str, Expect]:
    """The machine API: ``answer`` for the signed system, 401 for everyone else."""
    return {**everyone(UNSIGNED), "machine": answer}


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    expected: dict[str, Expect]
    #: The body sent (built per test from the world): form fields, JSON or multipart.
    body: str | None = None
    #: The table a successful request adds one row to; a refused one adds none.
    stores: type | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"


CASE_REDIRECT = Expect(303, "/mine-sager/{case}")


def auditor_page() -> dict[str, Expect]:
    """The supervision dashboards: auditors and administrators; other staff and citizens
    403; a visitor without a session (signed or not) goes to the login page."""
    return {
        **everyone(FORBIDDEN),
        "anonymous": LOGIN,
        "machine": LOGIN,
        "auditor": OK,
        "admin": OK,
    }


ROUTES = [
    # --- public pages
    Route("GET", "/", everyone(OK)),
    Route("GET", "/tilgaengelighed", everyone(OK)),
    Route("GET", "/privatliv", everyone(OK)),
    Route("GET", "/kontakt", everyone(OK)),
    Route("GET", "/healthz", everyone(OK)),
    Route("GET", "/readyz", everyone(OK)),
    Route("GET", "/sprog/<language>", everyone(Expect(303, "/"))),
    Route("GET", "/algoritmer", everyone(OK)),
    Route("GET", "/algoritmer/<name>", everyone(OK)),
    Route("GET", "/algoritmer.json", everyone(OK)),
    Route("GET", "/algoritmer/<name>.json", everyone(OK)),
    Route("GET", "/algoritmer.schema.json", everyone(OK)),
    # --- logins (OpenID Connect is not configured here: its routes do not exist; the login
    # flows themselves are tested against a real provider in tests/auth)
    Route("GET", "/login", everyone(OK)),
    Route("GET", "/login/borger", everyone(NOT_FOUND)),
    Route("GET", "/login/borger/callback", everyone(NOT_FOUND)),
    Route("GET", "/login/medarbejder", everyone(NOT_FOUND)),
    Route("GET", "/login/medarbejder/callback", everyone(NOT_FOUND)),
    Route("GET", "/login/demo", everyone(OK)),
    Route("POST", "/login/demo", everyone(Expect(303, "/mine-sager")), body="demo-login"),
    Route("POST", "/logout", everyone(Expect(303, "/logget-ud"))),
    Route("GET", "/logget-ud", everyone(OK)),
    # --- the citizen's pages
    Route("GET", "/mine-sager", citizen_page(OK, OK)),
    Route("GET", "/mine-sager/<public_id>", citizen_page(OK, NOT_FOUND)),
    Route("GET", "/mine-sager/<public_id>/pdf", citizen_page(OK, NOT_FOUND)),
    Route("GET", "/mine-sager/<public_id>/genvurdering", citizen_page(OK, NOT_FOUND)),
    Route(
        "POST",
        "/mine-sager/<public_id>/genvurdering",
        citizen_page(CASE_REDIRECT, NOT_FOUND),
        body="review",
        stores=CitizenRequest,
    ),
    Route("GET", "/mine-sager/<public_id>/forkerte-oplysninger", citizen_page(OK, NOT_FOUND)),
    Route(
        "POST",
        "/mine-sager/<public_id>/forkerte-oplysninger",
        citizen_page(CASE_REDIRECT, NOT_FOUND),
        body="rectification",
        stores=CitizenRequest,
    ),
    Route("GET", "/mine-sager/<public_id>/anmodninger/<request_id>", citizen_page(OK, NOT_FOUND)),
    Route("GET", "/mine-data", citizen_page(OK, OK)),
    Route("GET", "/mine-data.json", citizen_page(OK, OK)),
    Route("GET", "/mine-data.pdf", citizen_page(OK, OK)),
    Route("GET", "/mine-data/pdf/<export_id>", citizen_page(OK, NOT_FOUND)),
    Route("GET", "/mine-data/pdf/<export_id>/fil", citizen_page(OK, NOT_FOUND)),
    Route("GET", "/mine-data/log", citizen_page(OK, OK)),
    # --- the caseworker's pages (another unit's case and requests do not exist for them)
    Route("GET", "/sagsbehandler", staff_page(("caseworker",), OK)),
    Route("POST", "/sagsbehandler/cpr", staff_page(("caseworker",), OK), body="cpr-search"),
    Route("GET", "/sagsbehandler/sager/<public_id>", staff_page(("caseworker",), OK, NOT_FOUND)),
    Route(
        "POST",
        "/sagsbehandler/sager/<public_id>/vurdering",
        staff_page(("caseworker",), Expect(303, "/sagsbehandler/sager/{case}"), NOT_FOUND),
        body="oversight",
        stores=OversightRecord,
    ),
    Route("GET", "/sagsbehandler/anmodninger", staff_page(("caseworker",), OK)),
    Route(
        "POST",
        "/sagsbehandler/anmodninger/<request_id>",
        staff_page(("caseworker",), Expect(303, "/sagsbehandler/anmodninger"), NOT_FOUND),
        body="request-answer",
    ),
    Route("GET", "/admin", staff_page(("admin",), OK)),
    # --- the caseworker's letter attachment; its public verification (no login)
    Route(
        "GET",
        "/sagsbehandler/sager/<public_id>/bilag.pdf",
        {**citizen_page(NOT_FOUND, NOT_FOUND), "caseworker": OK},
        stores=LetterAttachment,
    ),
    Route("GET", "/bekraeft", everyone(OK)),
    Route("GET", "/bekraeft/<code>", everyone(OK)),
    Route("POST", "/bekraeft", everyone(OK), body="verify-upload"),
    # --- the auditors' dashboards
    Route("GET", "/tilsyn", auditor_page()),
    Route("GET", "/tilsyn/<name>/<version>/retfaerdighed", auditor_page()),
    Route("GET", "/tilsyn/<name>/<version>/drift", auditor_page()),
    Route("GET", "/tilsyn/<name>/<version>/omgoerelser", auditor_page()),
    # --- the machine API
    Route("GET", "/api/v1/openapi.json", everyone(OK)),
    Route("POST", "/api/v1/decisions", signed_only(Expect(202)), body="decision", stores=Decision),
    Route("POST", "/api/v1/decisions/batch", signed_only(OK), body="batch", stores=Decision),
    Route("GET", "/api/v1/decisions/<public_id>", signed_only(OK)),
    Route(
        "POST",
        "/api/v1/decisions/<public_id>/outcome",
        signed_only(Expect(201)),
        body="outcome",
        stores=DecisionOutcome,
    ),
    Route("POST", "/api/v1/models", signed_only(Expect(201)), body="model", stores=ModelVersion),
    Route("POST", "/api/v1/models/<name>/<version>/activate", signed_only(OK)),
    Route("POST", "/api/v1/models/<name>/<version>/retire", signed_only(OK)),
]

#: Rules added by tests to the shared app (probes), not by the portal.
TEST_PROBE_PREFIX = "/_test"


def _registered(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.rule.startswith(TEST_PROBE_PREFIX)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def test_every_route_is_in_the_matrix(app: Flask) -> None:
    in_matrix = [(route.method, route.rule) for route in ROUTES]
    assert len(in_matrix) == len(set(in_matrix)), "a route is in the matrix twice"
    assert _registered(app) - set(in_matrix) == set(), "add the new route to ROUTES"
    assert set(in_matrix) - _registered(app) == set(), "the matrix names a route that is gone"


def test_every_row_names_every_role() -> None:
    assert [route.id for route in ROUTES if set(route.expected) != set(ROLES)] == []


# --- the world the matrix runs in -------------------------------------------------------------


@dataclass
class World:
    case: Decision  # the citizen's case, sent by ``system`` with a model it registered
    request: CitizenRequest  # the citizen's request for a review of that case
    model: ModelVersion
    system_name: str
    secret: str
    letter: LetterAttachment  # an issued attachment of the case (its PDF: LETTER_PDF)
    export_id: str  # a finished "Mine data" PDF of the case's citizen


@pytest.fixture
def world(app: Flask, session: Session) -> World:
    lookup_secret = app.config["SETTINGS"].lookup_key
    demo = add_world(session)
    owner, other, _without_cases = _citizens()
    case = add_citizen_cases(session, demo, owner.cpr, lookup_secret=lookup_secret)[0]
    add_citizen_cases(session, demo, other.cpr, lookup_secret=lookup_secret)
    request = CitizenRequest(
        decision_id=case.id, subject_key=case.subject_key, kind="human-review", message="Igen."
    )
    session.add(request)
    export = PdfExport(subject_key=case.subject_key, locale="da", expires_at=utcnow())
    attach_file(export, b"%PDF-1.7 matrix", now=utcnow(), hours=1)
    session.add(export)
    secret = admin.rotate_secret(session, demo.system.name)  # its first secret
    staff = StaffPrincipal(issuer="urn:test", subject="matrix", role="caseworker", unit="x")
    session.add(staff)
    session.flush()
    letter = LetterAttachment(
        decision_id=case.id,
        verification_code="7KQ2-M9XD-4HTR",
        pdf_sha256=hashlib.sha256(LETTER_PDF).hexdigest(),
        created_by_staff_id=staff.id,
    )
    session.add(letter)
    session.commit()  # releases the test's savepoint; the outer transaction rolls back
    return World(
        case, request, case.model_version, demo.system.name, secret, letter, export.public_id
    )


#: The bytes of the world's issued attachment (only their sha256 matters to verification).
LETTER_PDF = b"%PDF-1.7\n% the access matrix's attachment\n"


def _citizens() -> tuple[Any, Any, Any]:
    by_name = {c.name.split()[1].lower(): c for c in demo_citizens()}
    return by_name["anne"], by_name["jonas"], by_name["mette"]


@pytest.fixture
def no_csrf(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)


@pytest.fixture
def log_in(app: Flask, login_as: Callable[..., Any], world: World) -> Callable[[str], None]:
    lookup_secret = app.config["SETTINGS"].lookup_key

    def as_role(role: str) -> None:
        if role in CITIZENS:
            citizen = _citizens()[CITIZENS.index(role)]
            login_as("citizen", subject_key=lookup_key(lookup_secret, citizen.cpr))
        elif role == "caseworker":
            login_as(role, unit=world.case.model_version.responsible_unit)
        elif role == "other_unit_caseworker":
            login_as("caseworker", unit=OTHER_UNIT)
        elif role in STAFF:
            login_as(role)

    return as_role


def _url(rule: str, world: World) -> str:
    values = {
        "<public_id>": world.case.public_id,
        "<request_id>": world.request.public_id,
        "<name>": world.model.name,
        "<version>": world.model.version,
        "<language>": "en",
        "<code>": world.letter.verification_code,
        "<export_id>": world.export_id,
    }
    for placeholder, value in values.items():
        rule = rule.replace(placeholder, value)
    return rule


STAFF_FORMS = {
    "cpr-search": {"cpr": "0101801234", "purpose": "casework"},
    "oversight": {"verdict": "overrode", "reason": "Borgeren har fået job.", "purpose": "casework"},
    "request-answer": {"status": "answered", "answer": "Vi har set på sagen igen."},
}


def _decision_body(world: World) -> dict[str, Any]:
    body = copy.deepcopy(bodies_of(_citizens()[0].cpr)[0])
    body["model"] = {"name": world.model.name, "version": world.model.version}
    body["case"]["reference"] = f"MATRIX-{secrets.token_hex(4)}"
    return body


def _body(kind: str | None, world: World) -> tuple[bytes, str | None]:
    """The bytes a route is sent, and their content type."""
    if kind is None:
        return b"", None
    if kind in ("review", "rectification", "demo-login", *STAFF_FORMS):
        fields = {
            **STAFF_FORMS,
            "review": {"message": "Se venligst på sagen igen."},
            "rectification": {"data_point": "ledighed_uger", "message": "Det er forkert."},
            "demo-login": {"person": f"citizen:{list(demo_citizens()).index(_citizens()[0])}"},
        }[kind]
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    if kind == "decision":
        return json.dumps(_decision_body(world)).encode(), "application/json"
    if kind == "outcome":
        return json.dumps({"actual_positive": True}).encode(), "application/json"
    if kind == "batch":
        items = [{"id": "matrix-1", **_decision_body(world)}]
        return json.dumps({"items": items}).encode(), "application/json"
    if kind == "verify-upload":
        boundary, data = encode_multipart(
            {"document": FileStorage(io.BytesIO(LETTER_PDF), "bilag.pdf", "application/pdf")}
        )
        return data, f"multipart/form-data; boundary={boundary}"
    assert kind == "model"
    model = next(m for m in demo_models() if m.name == world.model.name)
    manifest = {**copy.deepcopy(model.manifest), "version": "matrix"}
    boundary, data = encode_multipart(
        {
            "manifest": json.dumps(manifest),
            "artifact": FileStorage(io.BytesIO(model.artifact), "model.skops"),
            "background": FileStorage(io.BytesIO(model.background_csv), "background.csv"),
        }
    )
    return data, f"multipart/form-data; boundary={boundary}"


def _signature(world: World, data: bytes) -> dict[str, str]:
    """Headers a real sender adds: signed with the official library over the raw body (the
    portal's own signer, the same HMAC, for a binary multipart body it cannot take)."""
    webhook_id = f"msg_{secrets.token_hex(8)}"
    at = dt.datetime.now(dt.UTC)
    try:
        signature = Webhook(world.secret).sign(webhook_id, at, data.decode("utf-8"))
    except UnicodeDecodeError:
        signature = sign(world.secret, webhook_id, int(at.timestamp()), data)
    return {
        "x-system": world.system_name,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def _count(session: Session, table: type | None) -> int:
    if table is None:
        return 0
    return session.scalar(select(func.count()).select_from(table)) or 0


CASES = [
    pytest.param(route, role, id=f"{route.method} {route.rule} {role}")
    for route in ROUTES
    for role in ROLES
]


@pytest.mark.parametrize(("route", "role"), CASES)
def test_access_matrix(
    client: Any,
    session: Session,
    world: World,
    log_in: Callable[[str], None],
    no_csrf: None,
    route: Route,
    role: str,
) -> None:
    expected = route.expected[role]
    log_in(role)
    data, content_type = _body(route.body, world)
    headers: Mapping[str, str] = _signature(world, data) if role == "machine" else {}
    before = _count(session, route.stores)
    answer = client.open(
        _url(route.rule, world),
        method=route.method,
        data=data,
        content_type=content_type,
        headers=headers,
    )
    assert answer.status_code == expected.status, answer.get_data(as_text=True)[:500]
    if expected.location is not None:
        location = expected.location.replace("{case}", world.case.public_id)
        assert answer.headers["Location"].startswith(location)
    stored = _count(session, route.stores) - before
    done = expected.status < 400 and expected != LOGIN
    assert stored == (1 if route.stores is not None and done else 0)
    if expected.status == 404 and route.rule.startswith("/mine-sager/"):
        # Nothing of the case leaks (the layout echoes the URL asked for, nothing else).
        body = answer.get_data(as_text=True)
        assert str(world.case.case_title["da"]) not in body
        assert "Siden findes ikke" in body
