"""The machine API's rate limit (``api_ratelimit``): per system and client address, each view
counted on its own, a JSON 429 with the stable code once exceeded. The OpenAPI document is
limited per client address like the rest of the API, and the pages keep Flask-Limiter's
limits.

Limits are off in the other tests; these build an app with them on (``env=development``),
on the test's rolled-back connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask_limiter
import pytest
from api_support import Sender, SignedClient, decision_body
from flask import Flask, request
from limits import parse
from sqlalchemy import Connection

from portal import create_app
from portal.db_session import get_db
from portal.registry import admin

URL = "/api/v1/decisions"
RATE_LIMITED = {
    "error": {
        "code": "rate-limited",
        "message": "Too many requests. Please wait a moment and try again.",
        "details": [],
    }
}


@pytest.fixture
def limited_app(app_overrides: dict[str, Any], connection: Connection) -> Callable[..., Flask]:
    def make(**settings: Any) -> Flask:
        app = create_app({**app_overrides, "env": "development", **settings})
        get_db(app).session_factory.configure(
            bind=connection, join_transaction_mode="create_savepoint"
        )
        return app

    return make


def test_api_answers_429_with_the_stable_code_once_the_system_passes_its_limit(
    limited_app, sender: Sender, model, counts
) -> None:
    client = SignedClient(limited_app(api_ratelimit="2 per minute").test_client(), sender)

    first, second = client.post(URL, decision_body()), client.post(URL, decision_body())
    assert [first.status_code, second.status_code] == [202, 202]
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert [first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]] == [
        "1",
        "0",
    ]
    stored = counts()

    refused = client.post(URL, decision_body())

    assert refused.status_code == 429
    assert refused.get_json() == RATE_LIMITED
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert counts() == stored  # nothing of the refused request was stored


def test_api_limit_counts_per_system_and_per_view(
    limited_app, session, sender: Sender, other_sender: Sender, model
) -> None:
    admin.grant_model(session, other_sender.name, model.name)
    flask_client = limited_app(api_ratelimit="1 per minute").test_client()
    client, other = SignedClient(flask_client, sender), SignedClient(flask_client, other_sender)

    accepted = client.post(URL, decision_body())
    assert accepted.status_code == 202
    assert client.post(URL, decision_body()).status_code == 429

    # Another system from the same address has its own count ...
    assert other.post(URL, decision_body()).status_code == 202
    # ... and so has another view of the same system.
    assert client.get(accepted.get_json()["links"]["self"]).status_code == 200


def test_openapi_document_is_limited_on_its_own_count(limited_app, sender: Sender, model) -> None:
    # Public and unsigned, so counted per client address; its count is not the decisions'.
    flask_client = limited_app(api_ratelimit="2 per minute").test_client()

    statuses = [flask_client.get("/api/v1/openapi.json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    client = SignedClient(flask_client, sender)
    assert [client.post(URL, decision_body()).status_code for _ in range(3)] == [202, 202, 429]


def test_pages_keep_flask_limiter_and_the_api_is_not_counted_there(
    limited_app, sender: Sender, model
) -> None:
    # (The pages' default limit is read once per process by Flask-Limiter; the login
    # routes' limit is read per request, so a test can make it small.)
    app = limited_app(login_ratelimit="2 per minute", api_ratelimit="100 per minute")
    flask_client = app.test_client()
    client = SignedClient(flask_client, sender)

    logins = [flask_client.get("/login") for _ in range(3)]

    assert [login.status_code for login in logins] == [200, 200, 429]
    assert "For mange forespørgsler" in logins[2].get_data(as_text=True)
    assert logins[0].headers["X-RateLimit-Limit"] == "2"
    default = parse(app.config["SETTINGS"].ratelimit_default).amount
    assert flask_client.get("/algoritmer").headers["X-RateLimit-Limit"] == str(default)
    # The API answers under its own limit, not a page's ...
    answers = [client.post(URL, decision_body()) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 202, 202]
    assert answers[0].headers["X-RateLimit-Limit"] == "100"
    # ... and the login count went on by itself.
    assert flask_client.get("/login").status_code == 429


def test_flask_limiter_does_not_resolve_limits_for_the_api(
    limited_app, sender: Sender, model, monkeypatch
) -> None:
    """Its per-request limit resolution is what the direct check saves: it must not run for
    /api/ (this fails, instead of silently costing again, if Flask-Limiter renames the hook)."""
    seen: list[str | None] = []
    check = flask_limiter.Limiter._check_request_limit

    def recording(self, *args: Any, **kwargs: Any) -> None:
        seen.append(request.endpoint)
        check(self, *args, **kwargs)

    monkeypatch.setattr(flask_limiter.Limiter, "_check_request_limit", recording)
    flask_client = limited_app().test_client()

    assert SignedClient(flask_client, sender).post(URL, decision_body()).status_code == 202
    assert flask_client.get("/algoritmer").status_code == 200

    assert seen == ["registry.register"]
