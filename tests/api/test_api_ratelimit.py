"""The machine API's rate limits: per verified system (never per a claimed system name),
each view counted on its own, a JSON 429 with the stable code once exceeded; a separate
limit per client address on refused signatures; client addresses taken from the trusted
proxies only. The pages keep their own limits.

Limits are off in the other tests; these build an app with them on (``env=development``),
on the test's rolled-back connection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api_support import Sender, SignedClient, decision_body, sign_headers
from flask import Flask
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


def _post(client: Any, secret: str, system: str, address: str) -> Any:
    """A decision signed with ``secret`` as ``system``, sent from ``address``."""
    data = json.dumps(decision_body())
    headers = sign_headers(secret, system, data)
    return client.post(
        URL,
        data=data.encode(),
        content_type="application/json",
        headers=headers,
        environ_base={"REMOTE_ADDR": address},
    )


def _forged(client: Any, sender: Sender, *, system: str, address: str = "127.0.0.1") -> Any:
    """A decision signed with a wrong secret, claiming ``system``."""
    return _post(client, "whsec_" + "QUFB" * 8, system, address)


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


def test_the_system_limit_holds_from_every_address(limited_app, sender: Sender, model) -> None:
    # Keyed by the verified system alone: moving to another address buys no new bucket.
    flask_client = limited_app(api_ratelimit="1 per minute").test_client()

    def post(address: str) -> int:
        return int(_post(flask_client, sender.secret, sender.name, address).status_code)

    assert [post("10.0.0.1"), post("10.0.0.2")] == [202, 429]


def test_rotating_the_claimed_system_name_does_not_escape_the_failed_signature_limit(
    limited_app, sender: Sender, model, counts
) -> None:
    flask_client = limited_app(
        api_ratelimit="100 per minute", api_signature_failure_ratelimit="3 per minute"
    ).test_client()
    stored = counts()

    statuses = [
        _forged(flask_client, sender, system=name).status_code
        for name in ("fagsystem", "findes-ikke", "x" * 100, "andet", "igen")
    ]

    assert statuses == [401, 401, 401, 429, 429]
    refused = _forged(flask_client, sender, system="endnu-et")
    assert refused.get_json() == RATE_LIMITED
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Past it the address is refused before any signature work, good signature or not ...
    assert SignedClient(flask_client, sender).post(URL, decision_body()).status_code == 429
    # ... while another address is not affected.
    assert _forged(flask_client, sender, system="fagsystem", address="10.9.9.9").status_code == 401
    assert counts() == stored


def test_good_signatures_do_not_count_as_failures(limited_app, sender: Sender, model) -> None:
    flask_client = limited_app(
        api_ratelimit="100 per minute", api_signature_failure_ratelimit="1 per minute"
    ).test_client()
    client = SignedClient(flask_client, sender)

    assert [client.post(URL, decision_body()).status_code for _ in range(3)] == [202] * 3
    assert _forged(flask_client, sender, system=sender.name).status_code == 401
    assert _forged(flask_client, sender, system=sender.name).status_code == 429


def test_openapi_document_is_limited_on_its_own_count(limited_app, sender: Sender, model) -> None:
    # Public and unsigned, so counted per client address; its count is not the decisions'.
    flask_client = limited_app(api_ratelimit="2 per minute").test_client()

    statuses = [flask_client.get("/api/v1/openapi.json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    client = SignedClient(flask_client, sender)
    assert [client.post(URL, decision_body()).status_code for _ in range(3)] == [202, 202, 429]


def test_pages_keep_their_limits_and_the_api_is_not_counted_there(
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


def test_behind_one_proxy_clients_have_their_own_buckets(limited_app) -> None:
    flask_client = limited_app(trusted_proxies=1, login_ratelimit="1 per minute").test_client()

    def login(forwarded_for: str) -> int:
        return flask_client.get(
            "/login",
            headers={"X-Forwarded-For": forwarded_for},
            environ_base={"REMOTE_ADDR": "10.0.0.254"},  # the proxy
        ).status_code

    # Two citizens behind the same proxy: a bucket each.
    assert [login("198.51.100.1"), login("198.51.100.2")] == [200, 200]
    assert login("198.51.100.1") == 429
    # A spoofed address in front of the one the trusted proxy appended is ignored: the
    # client is still 198.51.100.1, whose bucket is spent.
    assert login("203.0.113.77, 198.51.100.1") == 429
    assert login("198.51.100.2, 198.51.100.1") == 429


def test_without_trusted_proxies_forwarded_for_is_ignored(limited_app) -> None:
    flask_client = limited_app(login_ratelimit="1 per minute").test_client()

    statuses = [
        flask_client.get("/login", headers={"X-Forwarded-For": address}).status_code
        for address in ("198.51.100.1", "198.51.100.2")
    ]

    assert statuses == [200, 429]


def test_no_private_flask_limiter_hook_is_overridden(project_root: Path) -> None:
    # Flask-Limiter's public API only: no subclass overriding its private methods, no
    # storage reaching into ``limits``' name-mangled internals.
    for path in (project_root / "portal").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "_check_request_limit" not in source, path
        assert "_MemoryStorage__" not in source, path
        assert "class _Limiter" not in source, path
