"""Property-based conformance of the machine API with its own OpenAPI document.

The schema is the one the app serves at ``/api/v1/openapi.json``. For every operation,
Schemathesis generates requests from it; each request is then signed exactly as a real
sender signs (Standard Webhooks over the raw body bytes, with the ``x-system`` header) so
the generated data reaches the validation and storage code instead of stopping at 401.
Every response must be documented (status code, content type) and match its schema, and
no request may end in a 5xx (in test mode an unexpected exception propagates, so a crash
fails the test with its traceback).

Most generated cases (3 in 4) are steered towards the registered model, a valid CPR and an
existing decision (drawn with Hypothesis, so shrinking still works): random bodies almost
never name a registered model, and the interesting code (storage, idempotency) sits
behind that check.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import io
import json
import secrets
import zlib
from collections import Counter
from typing import Any

import pytest
import schemathesis
from api_support import RICH_MANIFEST, Sender, decision_body, make_sender
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from standardwebhooks import Webhook
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.decisions.intake import IngestOptions, receive_decision
from portal.registry import admin

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODEL = {"name": RICH_MANIFEST["name"], "version": RICH_MANIFEST["version"]}


@pytest.fixture
def api_schema(app, connection):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def world(session, model) -> dict[str, Any]:
    """A sending system, an active model and one stored decision of that system."""
    sender = make_sender(session, "schemathesis")
    model.registered_by_system_id = sender.system.id
    answer = receive_decision(
        session,
        sender.system,
        "known-decision",
        decision_body(),
        IngestOptions(lookup_key="k"),
    )
    assert answer.status == 202
    session.flush()
    return {"sender": sender, "decision_id": answer.body["id"]}


# --- steering towards the registered model -----------------------------------------------------


@st.composite
def cprs(draw: st.DrawFn) -> str:
    """A CPR number with a real birth date (century rule of the 7th digit)."""
    born = draw(st.dates(dt.date(1937, 1, 1), dt.date(2024, 12, 31)))
    seventh = draw(st.sampled_from("0123")) if born.year < 2000 else "4"
    rest = draw(st.text("0123456789", min_size=3, max_size=3))
    return f"{born:%d%m%y}{seventh}{rest}"


FEATURES = st.fixed_dictionaries(
    {
        "ledighed_uger": st.floats(0, 520, allow_nan=False) | st.integers(0, 520),
        "forloeb": st.integers(0, 20),
        "a_kasse": st.booleans(),
        "uddannelse": st.sampled_from(["grundskole", "gymnasial", "videregaaende"]),
        "tilmeldt": st.dates().map(dt.date.isoformat),
    }
)


def steer_decision(draw: st.DrawFn, body: Any) -> Any:
    """Make a generated decision name the registered model with valid features and CPR
    (the rest of the body stays as generated)."""
    if not isinstance(body, dict) or draw(st.integers(0, 3)) == 3:  # steer 3 in 4
        return body
    body = {**body, "model": dict(MODEL), "features": draw(FEATURES)}
    if isinstance(body.get("subject"), dict):
        body["subject"] = {**body["subject"], "cpr": draw(cprs())}
    if isinstance(body.get("data_sources"), dict):
        body["data_sources"] = {
            key: value
            for key, value in body["data_sources"].items()
            if key in {f["key"] for f in RICH_MANIFEST["features"]}
        }
    return body


def steer(case: Any, data: st.DataObject, world: dict[str, Any]) -> None:
    op = case.operation.definition.raw.get("operationId")
    draw = data.draw
    if op == "postDecision":
        case.body = steer_decision(draw, case.body)
        if draw(st.integers(0, 3)) == 3:  # sometimes resend a webhook-id used before (200/409)
            case.headers = {**(case.headers or {}), "webhook-id": "known-decision"}
    elif op == "postDecisionBatch" and isinstance(case.body, dict):
        items = case.body.get("items")
        if isinstance(items, list):
            case.body = {**case.body, "items": [steer_decision(draw, item) for item in items]}
    elif op in ("getDecision", "reportOutcome") and draw(st.booleans()):
        case.path_parameters = {**case.path_parameters, "id": world["decision_id"]}
    elif op in ("activateModel", "retireModel") and draw(st.booleans()):
        case.path_parameters = {**case.path_parameters, **MODEL}


# --- signing as a sender does -----------------------------------------------------------------


def encoded_body(case: Any) -> tuple[bytes, str | None]:
    """The exact bytes to send, and their content type."""
    body = case.body
    if isinstance(body, schemathesis.core.NotSet) or case.method.upper() == "GET":
        return b"", None
    if case.media_type and case.media_type.startswith("multipart/"):
        if not isinstance(body, dict):  # negative generation: not a set of parts
            return json.dumps(body, default=repr).encode(), "multipart/form-data; boundary=x"
        fields = {}
        for name, value in body.items():
            if isinstance(value, bytes):
                fields[name] = FileStorage(io.BytesIO(value), f"{name}.bin")
            else:
                fields[name] = value if isinstance(value, str) else json.dumps(value)
        boundary, data = encode_multipart(fields)
        return data, f"multipart/form-data; boundary={boundary}"
    if isinstance(body, bytes):  # negative generation: raw bytes that are not JSON at all
        return body, "application/json"
    return json.dumps(body).encode(), "application/json"


def signed_headers(sender: Sender, webhook_id: str, body: bytes) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    try:
        # JSON bodies: the official library, as a real sender would sign text
        signature = Webhook(sender.secret).sign(webhook_id, now, body.decode())
    except UnicodeDecodeError:
        # a binary multipart upload: the same HMAC over the raw bytes, per the spec
        key = base64.b64decode(sender.secret.removeprefix("whsec_"))
        mac = hmac.new(key, f"{webhook_id}.{int(now.timestamp())}.".encode() + body, "sha256")
        signature = "v1," + base64.b64encode(mac.digest()).decode()
    return {
        "x-system": sender.name,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


OPERATIONS = [
    ("POST", "/api/v1/decisions"),
    ("POST", "/api/v1/decisions/batch"),
    ("GET", "/api/v1/decisions/{id}"),
    ("POST", "/api/v1/decisions/{id}/outcome"),
    ("POST", "/api/v1/models"),
    ("POST", "/api/v1/models/{name}/{version}/activate"),
    ("POST", "/api/v1/models/{name}/{version}/retire"),
]


def test_every_documented_operation_is_fuzzed(api_schema):
    served = {
        (method.upper(), path)
        for path, item in api_schema.raw_schema["paths"].items()
        for method in item
    }
    assert served == set(OPERATIONS)


#: A status each operation must have answered at least once in a run (deep enough).
REACHED = {
    "/api/v1/decisions": {202},
    "/api/v1/decisions/batch": {200},
    "/api/v1/decisions/{id}": {200},
    "/api/v1/decisions/{id}/outcome": {200, 201, 409},
    "/api/v1/models": {422},
    "/api/v1/models/{name}/{version}/activate": {200, 409},
    "/api/v1/models/{name}/{version}/retire": {200, 409},
}
PLACEHOLDER_HEADERS = {
    "x-system": "placeholder",
    "webhook-id": "placeholder",
    "webhook-timestamp": "0",
    "webhook-signature": "v1,placeholder",
}


def send(case: Any, world: dict[str, Any]) -> Any:
    webhook_id = case.headers.get("webhook-id", "placeholder")
    if webhook_id == "placeholder":
        webhook_id = f"st_{secrets.token_hex(8)}"
    body, content_type = encoded_body(case)
    headers = signed_headers(world["sender"], webhook_id, body)
    if content_type:
        headers["Content-Type"] = content_type
    case.headers = {}
    return case.call(headers=headers, data=body)


@pytest.mark.fuzz
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_conforms_to_its_openapi_document(api_schema, world, method, path):
    operation = api_schema[path][method]
    # The signature headers are replaced by real ones in send(); fixing them here keeps
    # negative generation from dropping them after signing (it mutates body and path).
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, headers=PLACEHOLDER_HEADERS),
        operation.as_strategy(GenerationMode.NEGATIVE, headers=PLACEHOLDER_HEADERS),
    )
    statuses: list[int] = []

    @given(case=strategy, data=st.data())
    @settings(
        max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case, data):
        steer(case, data, world)
        response = send(case, world)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)
        # Signed correctly, a request is never refused for its signature.
        assert response.status_code != 401, response.text

    check()
    # The steering works: the generated data reached the code behind the checks.
    assert REACHED[path] & set(statuses), sorted(Counter(statuses).items())


# --- what the fuzzer found (kept as plain regression tests) ---------------------------------------


def test_nul_character_in_any_string_is_a_400_and_nothing_is_stored(client, session, model, counts):
    """A ``\\u0000`` in a stored text made PostgreSQL fail with a 500 after validation."""
    from api_support import SignedClient

    signed = SignedClient(client, make_sender(session, "nul-sender"))
    admin.grant_model(session, "nul-sender", model.name)
    body = decision_body()
    body["case"]["reference"] = "2026-\x00"
    batch = {"items": [{**decision_body(), "id": "nul-item"}]}
    batch["items"][0]["decision"]["decided_by"] = "Team \x00"
    before = counts()
    for path, payload in (("/api/v1/decisions", body), ("/api/v1/decisions/batch", batch)):
        response = signed.post(path, payload)
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"]["code"] == "json-nul-character"
    assert counts() == before
    # an escaped backslash followed by "u0000" is ordinary text, not a NUL
    body = decision_body()
    body["case"]["reference"] = "2026-\\u0000"
    assert signed.post("/api/v1/decisions", body).status_code == 202


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/decisions/abc%00def"),
        ("POST", "/api/v1/models/apitest%00/2026.1/activate"),
        ("POST", "/api/v1/models/apitest/2026.1%00/retire"),
    ],
)
def test_nul_character_in_a_path_is_a_404(client, session, model, method, path):
    from api_support import sign_headers

    sender = make_sender(session, "nul-path")
    model.registered_by_system_id = sender.system.id
    session.flush()
    response = client.open(
        path, method=method, headers=sign_headers(sender.secret, sender.name, "")
    )
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not-found"


# --- stateful: sequences of calls that follow the document's links ------------------------------


def _steered(body: dict[str, Any]) -> bool:
    """Three in four bodies, chosen by their own content: the same generated body is always
    steered the same way, so Hypothesis sees the same answers when it replays a sequence
    (a counter outside the test made its data generation "flaky")."""
    text = json.dumps(body, sort_keys=True, default=str, ensure_ascii=True)
    return zlib.crc32(text.encode("ascii", "backslashreplace")) % 4 != 0


def steer_in_turn(case: Any) -> None:
    """Three in four decisions name the registered model with a valid case, features,
    output, CPR and date, and replace no earlier decision (the rest stays generated)."""
    op = case.operation.definition.raw.get("operationId")
    if op == "postDecision" and isinstance(case.body, dict) and _steered(case.body):
        valid = decision_body()
        body = {
            **case.body,
            "model": dict(MODEL),
            **{name: valid[name] for name in ("features", "model_output", "case")},
        }
        if isinstance(body.get("subject"), dict):
            body["subject"] = {**body["subject"], "cpr": "0101901234"}
        if isinstance(body.get("decision"), dict):  # a date the portal accepts (1900-2999)
            body["decision"] = {**body["decision"], "decided_at": valid["decision"]["decided_at"]}
        # Fields that must name something stored (a decision to replace) or match the
        # manifest: valid only by chance when generated, so left out of steered bodies.
        for name in ("data_sources", "supersedes", "monitoring"):
            body.pop(name, None)
        case.body = body


@pytest.mark.fuzz
def test_stateful_sequences_follow_the_links_without_a_server_error(api_schema, world):
    """postDecision -> getDecision (its id), registerModel -> activate/retire (its name
    and version): every step signed as a sender does, every answer documented, no 5xx."""
    links = {
        link["operationId"]
        for item in api_schema.raw_schema["paths"].values()
        for operation in item.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    }
    assert links == {"getDecision", "activateModel", "retireModel"}
    # Positive data only: negative generation (covered per operation above) would also drop
    # the signature headers, and a sequence needs answers it can follow.
    api_schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    statuses: list[tuple[str, int]] = []

    class Signed(api_schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: Any, **kwargs: Any) -> Any:
            steer_in_turn(case)
            case.headers = dict(PLACEHOLDER_HEADERS)  # a fresh webhook-id, really signed
            response = send(case, world)
            statuses.append((case.operation.definition.raw["operationId"], response.status_code))
            return response

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)
            assert response.status_code != 401, response.text

    Signed.run(
        settings=settings(
            max_examples=40,
            stateful_step_count=4,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # the sequences went deep: a stored decision was read back through its link
    assert ("postDecision", 202) in statuses, sorted(Counter(statuses).items())
    assert ("getDecision", 200) in statuses, sorted(Counter(statuses).items())
