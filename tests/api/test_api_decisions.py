"""POST /api/v1/decisions: signatures, strict JSON, schema validation, idempotency.

Every bad input asserts the exact status, the error code and that no decision, delivery or
job row was stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from api_support import (
    SignedClient,
    decision_body,
    make_sender,
    sign_headers,
    with_features,
)
from sqlalchemy import select

from portal.crypto import lookup_key
from portal.decisions.models import Decision, Delivery, Job
from portal.oversight.models import AuditEvent
from portal.registry import admin

URL = "/api/v1/decisions"
NOTHING = {"Decision": 0, "Delivery": 0, "Job": 0}


def error_code(response: Any) -> str:
    return response.get_json()["error"]["code"]


def detail_codes(response: Any) -> set[tuple[str, str]]:
    return {(d["field"], d["code"]) for d in response.get_json()["error"]["details"]}


# --- the happy path ---------------------------------------------------------------------------


def test_new_decision_is_stored_with_delivery_and_pending_job(
    signed_client, model, session, counts, app
) -> None:
    response = signed_client.post(URL, decision_body(), webhook_id="msg_1")

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending"
    assert body["links"] == {"self": f"/api/v1/decisions/{body['id']}"}
    assert counts() == {"Decision": 1, "Delivery": 1, "Job": 1}
    decision = session.scalar(select(Decision))
    assert decision.public_id == body["id"]
    assert decision.delivery_key == "msg_1"
    assert decision.subject_cpr == "0101901234"
    assert decision.subject_key == lookup_key(app.config["SETTINGS"].lookup_key, "0101901234")
    assert decision.features["uddannelse"] == "gymnasial"
    assert decision.decided_at == dt.datetime(2026, 5, 21, 10, tzinfo=dt.UTC)
    job = session.scalar(select(Job))
    assert (job.decision_id, job.status, job.kind) == (decision.id, "pending", "explain")


def test_cpr_is_stored_encrypted_and_never_in_plain_columns(signed_client, model, session) -> None:
    signed_client.post(URL, decision_body(), webhook_id="msg_cpr")
    raw = session.connection().exec_driver_sql("SELECT * FROM decision").fetchall()
    assert raw
    assert not any(b"0101901234" in bytes(str(row), "utf-8") for row in raw)
    for value in raw[0]:
        if isinstance(value, bytes | memoryview):
            assert b"0101901234" not in bytes(value)


def test_cpr_never_reaches_the_log(signed_client, model, caplog) -> None:
    caplog.set_level("DEBUG")
    signed_client.post(URL, decision_body(subject={"cpr": "3102901234"}))
    signed_client.post(URL, decision_body())
    assert "0101901234" not in caplog.text
    assert "3102901234" not in caplog.text


def test_cpr_with_dash_is_accepted_and_normalised(signed_client, model, session) -> None:
    response = signed_client.post(URL, decision_body(subject={"cpr": "010190-1234"}))
    assert response.status_code == 202
    assert session.scalar(select(Decision)).subject_cpr == "0101901234"


def test_cpr_without_modulus_11_is_accepted(signed_client, model) -> None:
    # 0101901235 fails the old modulus-11 check; numbers like it are issued since 2007
    assert signed_client.post(URL, decision_body(subject={"cpr": "0101901235"})).status_code == 202


def test_receipt_is_audited_without_the_cpr(signed_client, model, session) -> None:
    response = signed_client.post(URL, decision_body())
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "decision.received"))
    assert event.decision_public_id == response.get_json()["id"]
    assert event.actor_ref == "fagsystem"
    assert "0101901234" not in json.dumps(event.details)


# --- idempotency ----------------------------------------------------------------------------


def test_same_id_same_body_answers_the_first_answer_with_200(signed_client, model, counts) -> None:
    first = signed_client.post(URL, decision_body(), webhook_id="msg_same")
    again = signed_client.post(URL, decision_body(), webhook_id="msg_same")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json() == first.get_json()
    assert counts() == {"Decision": 1, "Delivery": 1, "Job": 1}


def test_same_id_other_body_is_409_and_audited(signed_client, model, session, counts) -> None:
    signed_client.post(URL, decision_body(), webhook_id="msg_reuse")
    response = signed_client.post(URL, with_features(ledighed_uger=31), webhook_id="msg_reuse")
    assert response.status_code == 409
    assert error_code(response) == "webhook-id-reused"
    assert counts() == {"Decision": 1, "Delivery": 1, "Job": 1}
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "delivery.id-reused"))
    assert event.details["webhook_id"] == "msg_reuse"


def test_a_used_id_with_an_invalid_body_is_409_not_422(signed_client, model, counts) -> None:
    """A used id is answered as reused whatever the new body holds (checked when it fails)."""
    signed_client.post(URL, decision_body(), webhook_id="msg_reuse_bad")
    body = decision_body()
    del body["features"]["ledighed_uger"]
    response = signed_client.post(URL, body, webhook_id="msg_reuse_bad")
    assert (response.status_code, error_code(response)) == (409, "webhook-id-reused")
    assert counts() == {"Decision": 1, "Delivery": 1, "Job": 1}


def test_ids_are_per_system(client, session, model, counts) -> None:
    a, b = make_sender(session, "sys-a"), make_sender(session, "sys-b")
    for sender in (a, b):
        admin.grant_model(session, sender.name, model.name)
    ra = SignedClient(client, a).post(URL, decision_body(), webhook_id="shared")
    rb = SignedClient(client, b).post(URL, with_features(forloeb=3), webhook_id="shared")
    assert (ra.status_code, rb.status_code) == (202, 202)
    assert counts()["Decision"] == 2


# --- signatures -------------------------------------------------------------------------------


def _post_raw(client, data: bytes, headers: dict[str, str]) -> Any:
    return client.post(URL, data=data, content_type="application/json", headers=headers)


SIGNATURE_CASES = {
    "no headers": lambda h: {},
    "no signature": lambda h: {k: v for k, v in h.items() if k != "webhook-signature"},
    "no id": lambda h: {k: v for k, v in h.items() if k != "webhook-id"},
    "no timestamp": lambda h: {k: v for k, v in h.items() if k != "webhook-timestamp"},
    "no system": lambda h: {k: v for k, v in h.items() if k != "x-system"},
}


@pytest.mark.parametrize("case", SIGNATURE_CASES)
def test_missing_headers_are_401(client, sender, model, counts, case) -> None:
    data = json.dumps(decision_body())
    headers = SIGNATURE_CASES[case](sign_headers(sender.secret, sender.name, data))
    response = _post_raw(client, data.encode(), headers)
    assert response.status_code == 401
    assert error_code(response) == "missing-signature-headers"
    assert counts() == NOTHING


@pytest.mark.parametrize(
    ("signature", "code"),
    [
        ("garbage", "invalid-signature-header"),
        ("v1,!!!not-base64!!!", "invalid-signature-header"),
        ("v1,", "invalid-signature-header"),
        ("v1," + base64.b64encode(b"short").decode(), "invalid-signature-header"),
        ("v2,abc v1a,xyz", "invalid-signature-header"),
        (",,,, v1", "invalid-signature-header"),
        ("v1," + base64.b64encode(b"x" * 32).decode(), "invalid-signature"),
    ],
)
def test_garbage_signatures_are_401(client, sender, model, counts, signature, code) -> None:
    data = json.dumps(decision_body())
    headers = sign_headers(sender.secret, sender.name, data)
    headers["webhook-signature"] = signature
    response = _post_raw(client, data.encode(), headers)
    assert response.status_code == 401
    assert error_code(response) == code
    assert counts() == NOTHING


# Just outside the 300 s tolerance. The header holds whole seconds (the fraction is cut off)
# and time passes before the check, so a future timestamp comes up to a second closer to
# "now" than ``shift``: it keeps a margin. A stale one only gets staler.
@pytest.mark.parametrize("shift", [-301, 310, -3600, 86400])
def test_stale_or_future_timestamp_is_401(client, sender, model, counts, shift) -> None:
    data = json.dumps(decision_body())
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=shift)
    response = _post_raw(
        client, data.encode(), sign_headers(sender.secret, sender.name, data, at=at)
    )
    assert response.status_code == 401
    assert error_code(response) == "timestamp-out-of-tolerance"
    assert counts() == NOTHING


@pytest.mark.parametrize("value", ["abc", "1.5", "-5", "1" * 20, "١٢٣"])
def test_malformed_timestamp_is_401(client, sender, model, counts, value) -> None:
    data = json.dumps(decision_body())
    headers = sign_headers(sender.secret, sender.name, data)
    headers["webhook-timestamp"] = value
    response = _post_raw(client, data.encode(), headers)
    assert response.status_code == 401
    assert error_code(response) == "invalid-timestamp"
    assert counts() == NOTHING


def test_timestamp_within_tolerance_is_accepted(signed_client, model) -> None:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=240)
    assert signed_client.post(URL, decision_body(), at=at).status_code == 202


def test_wrong_secret_is_401(client, sender, model, counts) -> None:
    data = json.dumps(decision_body())
    wrong = admin.new_secret()
    response = _post_raw(client, data.encode(), sign_headers(wrong, sender.name, data))
    assert response.status_code == 401
    assert error_code(response) == "invalid-signature"
    assert counts() == NOTHING


def test_flipped_byte_is_401(client, sender, model, counts) -> None:
    data = json.dumps(decision_body())
    headers = sign_headers(sender.secret, sender.name, data)
    tampered = bytearray(data.encode())
    tampered[10] ^= 0x01
    response = _post_raw(client, bytes(tampered), headers)
    assert response.status_code == 401
    assert error_code(response) == "invalid-signature"
    assert counts() == NOTHING


def test_system_a_secret_cannot_post_as_system_b(client, sender, other_sender, model, counts):
    data = json.dumps(decision_body())
    headers = sign_headers(sender.secret, other_sender.name, data)
    response = _post_raw(client, data.encode(), headers)
    assert response.status_code == 401
    assert error_code(response) == "invalid-signature"
    assert counts() == NOTHING


def test_unknown_system_looks_like_a_wrong_secret(client, sender, model, counts) -> None:
    data = json.dumps(decision_body())
    response = _post_raw(client, data.encode(), sign_headers(sender.secret, "nosuch", data))
    assert response.status_code == 401
    assert error_code(response) == "invalid-signature"
    assert counts() == NOTHING


def test_disabled_system_is_403(signed_client, sender, session, model, counts) -> None:
    admin.disable_system(session, sender.name)
    response = signed_client.post(URL, decision_body())
    assert response.status_code == 403
    assert error_code(response) == "system-disabled"
    assert counts() == NOTHING


def test_any_valid_signature_among_several_suffices(client, sender, model) -> None:
    data = json.dumps(decision_body())
    headers = sign_headers(sender.secret, sender.name, data)
    bogus = "v1," + base64.b64encode(b"y" * 32).decode()
    headers["webhook-signature"] = f"garbage {bogus} {headers['webhook-signature']} v1a,zzz"
    assert _post_raw(client, data.encode(), headers).status_code == 202


def test_rotated_secret_old_valid_until_date_then_refused(client, sender, session, model):
    data = json.dumps(decision_body())
    now = dt.datetime.now(dt.UTC)
    new = admin.rotate_secret(session, sender.name, old_valid_until=now + dt.timedelta(days=1))
    assert (
        _post_raw(client, data.encode(), sign_headers(sender.secret, sender.name, data)).status_code
        == 202
    )
    assert _post_raw(client, data.encode(), sign_headers(new, sender.name, data)).status_code == 202
    # once the old secret's date has passed, only the new one works
    admin.rotate_secret(session, sender.name, old_valid_until=now - dt.timedelta(seconds=1))
    old = _post_raw(client, data.encode(), sign_headers(sender.secret, sender.name, data))
    assert old.status_code == 401


def test_non_utf8_body_with_valid_signature_is_400(client, sender, model, counts) -> None:
    from portal.api.signing import sign

    data = b'{"model": "\xff\xfe"}'
    headers = sign_headers(sender.secret, sender.name, "")
    ts = int(headers["webhook-timestamp"])
    headers["webhook-signature"] = sign(sender.secret, headers["webhook-id"], ts, data)
    response = _post_raw(client, data, headers)
    assert response.status_code == 400
    assert error_code(response) == "invalid-encoding"
    assert counts() == NOTHING


def test_non_utf8_header_bytes_never_500(client, sender, model, counts) -> None:
    data = json.dumps(decision_body())
    headers = sign_headers(sender.secret, sender.name, data)
    headers["webhook-signature"] = "v1,\udcff\udcfe"
    headers["webhook-id"] = "é"
    response = _post_raw(client, data.encode(), headers)
    assert response.status_code == 401
    assert counts() == NOTHING


# --- body size and strict JSON ---------------------------------------------------------------


def test_ten_megabyte_body_is_413_before_the_signature(client, sender, model, counts) -> None:
    data = b"{" + b" " * (10 * 1024 * 1024) + b"}"
    response = _post_raw(client, data, {"x-system": "x"})  # not even signed
    assert response.status_code == 413
    assert error_code(response) == "payload-too-large"
    assert counts() == NOTHING


def test_body_limit_does_not_trust_content_length(app, sender, model, counts) -> None:
    limit = app.config["SETTINGS"].max_webhook_bytes
    data = b"[" + b"1," * limit + b"1]"
    environ_overrides = {"CONTENT_LENGTH": "10"}  # lies: the stream is much longer
    with app.test_request_context(
        URL, method="POST", data=data, environ_overrides=environ_overrides
    ):
        from flask import request

        from portal.api.views import read_body
        from portal.errors import PayloadTooLarge

        # a chunked body has no trustworthy length; the stream is read to at most limit+1
        request.environ["wsgi.input_terminated"] = True
        with pytest.raises(PayloadTooLarge):
            read_body(limit)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("not json", "invalid-json"),
        ('{"a": NaN}', "invalid-json"),
        ('{"a": Infinity}', "invalid-json"),
        ('{"a": -Infinity}', "invalid-json"),
        ('{"a": 1e400}', "invalid-json"),
        ('{"a": 1, "a": 2}', "invalid-json"),
        ('{"a": ' + "1" * 5000 + "}", "invalid-json"),
        ("[" * 5000 + "]" * 5000, "json-too-deep"),
        ('{"a":' * 40 + "1" + "}" * 40, "json-too-deep"),
        ("", "invalid-json"),
    ],
)
def test_malformed_json_is_400(signed_client, model, counts, data, code) -> None:
    response = signed_client.post(URL, data)
    assert response.status_code == 400
    assert error_code(response) == code
    assert counts() == NOTHING


def test_brackets_inside_strings_do_not_count_as_nesting(signed_client, model) -> None:
    body = decision_body(case={"reference": "[[[[" * 20, "title": {"da": "{{{{" * 20}})
    assert signed_client.post(URL, body).status_code == 202


@pytest.mark.parametrize("data", ["[1, 2]", '"text"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_422(signed_client, model, counts, data) -> None:
    response = signed_client.post(URL, data)
    assert response.status_code == 422
    assert error_code(response) == "validation-failed"
    assert ("body", "not-an-object") in detail_codes(response)
    assert counts() == NOTHING


# --- schema validation against the model's manifest --------------------------------------------


def _features_without(key: str) -> dict[str, Any]:
    body = decision_body()
    del body["features"][key]
    return body


VALIDATION_CASES: dict[str, tuple[dict[str, Any], tuple[str, str]]] = {
    "unknown model": (
        decision_body(model={"name": "nosuch", "version": "1"}),
        ("model", "unknown-model-version"),
    ),
    "unknown version": (
        decision_body(model={"name": "apitest", "version": "9"}),
        ("model", "unknown-model-version"),
    ),
    "missing feature": (_features_without("forloeb"), ("features.forloeb", "missing-feature")),
    "unknown feature": (with_features(hobby=1), ("features.hobby", "unknown-feature")),
    "wrong type number": (
        with_features(ledighed_uger="30"),
        ("features.ledighed_uger", "wrong-type"),
    ),
    "bool is not a number": (
        with_features(ledighed_uger=True),
        ("features.ledighed_uger", "wrong-type"),
    ),
    "wrong type boolean": (with_features(a_kasse=1), ("features.a_kasse", "wrong-type")),
    "list as value": (with_features(uddannelse=["a"]), ("features.uddannelse", "wrong-type")),
    "not an integer": (with_features(forloeb=2.5), ("features.forloeb", "not-an-integer")),
    "above max": (with_features(ledighed_uger=521), ("features.ledighed_uger", "out-of-range")),
    "below min": (with_features(ledighed_uger=-1), ("features.ledighed_uger", "out-of-range")),
    "unknown category": (
        with_features(uddannelse="phd"),
        ("features.uddannelse", "unknown-category"),
    ),
    "bad date": (with_features(tilmeldt="2026-02-30"), ("features.tilmeldt", "invalid-date")),
    "null feature": (with_features(forloeb=None), ("features.forloeb", "missing-value")),
    "impossible cpr date": (
        decision_body(subject={"cpr": "3102901234"}),
        ("subject.cpr", "invalid-cpr-date"),
    ),
    "cpr month 13": (
        decision_body(subject={"cpr": "0113901234"}),
        ("subject.cpr", "invalid-cpr-date"),
    ),
    "cpr 29 feb non-leap by century": (
        # 7th digit 0 means 1900, which was not a leap year
        decision_body(subject={"cpr": "2902000234"}),
        ("subject.cpr", "invalid-cpr-date"),
    ),
    "cpr letters": (
        decision_body(subject={"cpr": "01019O1234"}),
        ("subject.cpr", "invalid-cpr-format"),
    ),
    "cpr future birth": (
        decision_body(subject={"cpr": "0101354000"}),
        ("subject.cpr", "invalid-cpr-date"),
    ),
    "unknown top-level field": (decision_body(extra=1), ("extra", "unknown-field")),
    "unknown nested field": (
        decision_body(case={"reference": "x", "title": {"da": "t"}, "secret": 1}),
        ("case.secret", "unknown-field"),
    ),
    "missing field": (
        {k: v for k, v in decision_body().items() if k != "decision"},
        ("decision", "missing-field"),
    ),
    "no danish text": (
        decision_body(case={"reference": "x", "title": {"en": "t"}}),
        ("case.title", "missing-danish-text"),
    ),
    "naive decided_at": (
        decision_body(
            decision={**decision_body()["decision"], "decided_at": "2026-05-21T10:00:00"}
        ),
        ("decision.decided_at", "timezone-required"),
    ),
    "string bool": (
        decision_body(decision={**decision_body()["decision"], "human_decided": "yes"}),
        ("decision.human_decided", "wrong-type"),
    ),
    "model_output string": (decision_body(model_output="0.7"), ("model_output", "wrong-type")),
    "data source for unknown feature": (
        decision_body(data_sources={"hobby": {"fetched_at": "2026-05-20T08:00:00Z"}}),
        ("data_sources.hobby", "unknown-feature"),
    ),
}


@pytest.mark.parametrize("case", VALIDATION_CASES)
def test_invalid_decisions_are_422_with_the_problem(signed_client, model, counts, case) -> None:
    body, expected = VALIDATION_CASES[case]
    response = signed_client.post(URL, body)
    assert response.status_code == 422, response.get_json()
    assert error_code(response) == "validation-failed"
    assert expected in detail_codes(response)
    assert counts() == NOTHING


def test_cpr_century_rule_accepts_a_real_2000_leap_day(signed_client, model) -> None:
    # 7th digit 4 and year 00 -> 2000, a leap year
    assert signed_client.post(URL, decision_body(subject={"cpr": "2902004234"})).status_code == 202


def test_every_problem_is_listed(signed_client, model, counts) -> None:
    body = with_features(ledighed_uger=9999, uddannelse="phd", hobby=1)
    del body["features"]["forloeb"]
    body["subject"] = {"cpr": "3102901234"}
    body["surprise"] = True
    response = signed_client.post(URL, body)
    assert response.status_code == 422
    assert detail_codes(response) >= {
        ("features.ledighed_uger", "out-of-range"),
        ("features.uddannelse", "unknown-category"),
        ("features.hobby", "unknown-feature"),
        ("features.forloeb", "missing-feature"),
        ("subject.cpr", "invalid-cpr-date"),
        ("surprise", "unknown-field"),
    }
    assert counts() == NOTHING


def test_error_details_never_echo_the_cpr(signed_client, model) -> None:
    response = signed_client.post(URL, decision_body(subject={"cpr": "3102901234"}))
    assert "3102901234" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("status", "code"),
    [("retired", "model-version-retired"), ("registered", "model-version-not-active")],
)
def test_inactive_model_version_is_422(signed_client, model, session, counts, status, code):
    model.status = status
    session.flush()
    response = signed_client.post(URL, decision_body())
    assert response.status_code == 422
    assert ("model", code) in detail_codes(response)
    assert counts() == NOTHING


def test_repeat_after_retirement_still_answers_the_first_answer(signed_client, model, session):
    first = signed_client.post(URL, decision_body(), webhook_id="before-retire")
    admin.retire_model(session, model.name, model.version)
    again = signed_client.post(URL, decision_body(), webhook_id="before-retire")
    assert (again.status_code, again.get_json()) == (200, first.get_json())


def test_delivery_row_keeps_hash_and_first_answer(signed_client, model, session) -> None:
    response = signed_client.post(URL, decision_body(), webhook_id="msg_keep")
    delivery = session.scalar(select(Delivery))
    assert delivery.webhook_id == "msg_keep"
    assert delivery.status_code == 202
    assert delivery.response == response.get_json()
    assert len(delivery.body_sha256) == 64


# --- decision.reason (optional: why the decider did not follow the model) ----------------------


def _with_reason(reason: Any) -> dict[str, Any]:
    body = decision_body()
    body["decision"] = {**body["decision"], "followed_model": False, "reason": reason}
    return body


def test_reason_is_stored_encrypted_on_the_decision(signed_client, model, session) -> None:
    reason = {"da": "Du har fået et job, der starter om en måned.", "en": "You start a job."}
    response = signed_client.post(URL, _with_reason(reason), webhook_id="msg_reason")
    assert response.status_code == 202, response.get_json()
    decision = session.scalar(select(Decision))
    assert decision.decision_reason == reason
    raw = session.connection().exec_driver_sql("SELECT decision_reason FROM decision").scalar()
    assert isinstance(raw, bytes | memoryview)
    assert b"job" not in bytes(raw)  # ciphertext, not the text


def test_reason_is_optional(signed_client, model, session) -> None:
    assert signed_client.post(URL, decision_body(), webhook_id="msg_no_reason").status_code == 202
    assert session.scalar(select(Decision)).decision_reason is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ({"en": "No Danish"}, ("decision.reason", "missing-danish-text")),
        ("Bare tekst", ("decision.reason", "not-an-object")),
        ({"da": "x" * 2001}, ("decision.reason.da", "too-long")),
    ],
)
def test_invalid_reason_is_422_and_nothing_is_stored(
    signed_client, model, counts, reason, expected
) -> None:
    response = signed_client.post(URL, _with_reason(reason))
    assert response.status_code == 422, response.get_json()
    assert error_code(response) == "validation-failed"
    assert expected in detail_codes(response)
    assert counts() == NOTHING


def test_unknown_field_beside_reason_is_still_refused(signed_client, model, counts) -> None:
    body = _with_reason({"da": "Begrundelse"})
    body["decision"]["reason_code"] = "x"
    response = signed_client.post(URL, body)
    assert response.status_code == 422
    assert ("decision.reason_code", "unknown-field") in detail_codes(response)
    assert counts() == NOTHING


def test_openapi_document_describes_the_reason(client) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    facts = document["components"]["schemas"]["DecisionFacts"]
    assert "reason" in facts["properties"]
    assert "reason" not in facts.get("required", [])
    assert facts.get("additionalProperties") is False
