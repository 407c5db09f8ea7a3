"""Server-side sessions: token-only cookie, timeouts, rotation, logout, both backends."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from auth_support import csrf_from, make_probe_app
from db_support import rolled_back
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.auth.models import ServerSession
from portal.auth.sessions import (
    COOKIE_NAME,
    SECURE_COOKIE_NAME,
    ServerSessionInterface,
    session_interface,
)
from portal.config import Settings
from portal.db import utcnow
from portal.db_session import get_db


def _cookie(client: FlaskClient, name: str = COOKIE_NAME) -> str | None:
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def _rows(app: Flask) -> list[ServerSession]:
    with get_db(app).transaction() as db:
        return list(db.scalars(select(ServerSession)))


def test_anonymous_visit_creates_no_session(probe_app: Flask, probe_client: FlaskClient) -> None:
    response = probe_client.get("/_probe/nothing")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert _rows(probe_app) == []


def test_cookie_holds_only_a_token_and_store_keys_by_its_hash(
    probe_app: Flask, probe_client: FlaskClient
) -> None:
    response = probe_client.get("/_probe/set/colour/blue")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    token = _cookie(probe_client)
    assert token is not None
    assert len(token) >= 43
    assert "blue" not in header
    rows = _rows(probe_app)
    assert [r.key for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert rows[0].data == {"colour": "blue"}
    assert probe_client.get("/_probe/session").json == {"colour": "blue"}


def test_data_is_encrypted_at_rest(probe_app: Flask, probe_client: FlaskClient) -> None:
    probe_client.get("/_probe/set/colour/turquoise")
    with get_db(probe_app).transaction() as db:
        stored = db.connection().exec_driver_sql("SELECT data FROM server_session").scalar_one()
    assert b"turquoise" not in bytes(stored)


def test_unknown_or_forged_token_gives_an_empty_session(probe_client: FlaskClient) -> None:
    probe_client.set_cookie(COOKIE_NAME, "forged-token")
    assert probe_client.get("/_probe/session").json == {}


def test_idle_timeout_ends_the_session(probe_app: Flask, probe_client: FlaskClient) -> None:
    interface = session_interface(probe_app)
    start = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
    interface.clock = lambda: start
    try:
        probe_client.get("/_probe/set/k/v")
        interface.clock = lambda: start + dt.timedelta(minutes=29)
        assert probe_client.get("/_probe/session").json == {"k": "v"}
        # The visit at 29 minutes renewed it: another 29 minutes later it is still alive.
        interface.clock = lambda: start + dt.timedelta(minutes=58)
        assert probe_client.get("/_probe/session").json == {"k": "v"}
        interface.clock = lambda: start + dt.timedelta(minutes=58 + 31)
        assert probe_client.get("/_probe/session").json == {}
        assert _rows(probe_app) == []
    finally:
        interface.clock = utcnow


def test_absolute_timeout_ends_an_active_session(
    probe_app: Flask, probe_client: FlaskClient
) -> None:
    interface = session_interface(probe_app)
    start = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
    try:
        interface.clock = lambda: start
        probe_client.get("/_probe/set/k/v")
        minutes = 0
        # Busy all day: a request every 20 minutes keeps it from going idle.
        while minutes < 8 * 60 - 20:
            minutes += 20
            interface.clock = lambda m=minutes: start + dt.timedelta(minutes=m)
            assert probe_client.get("/_probe/session").json == {"k": "v"}, minutes
        interface.clock = lambda: start + dt.timedelta(hours=8)
        assert probe_client.get("/_probe/session").json == {}
    finally:
        interface.clock = utcnow


def test_regenerate_rotates_the_token_and_kills_the_old_one(
    probe_app: Flask, probe_client: FlaskClient
) -> None:
    probe_client.get("/_probe/set/before/1")
    old = _cookie(probe_client)
    response = probe_client.post(
        "/login/demo", data={"person": "citizen:0"}, headers={"Referer": "http://localhost/"}
    )
    # Without the form's CSRF token the login is refused and nothing rotates.
    assert response.status_code == 400
    assert _cookie(probe_client) == old
    page = probe_client.get("/login/demo")
    token = csrf_from(page.get_data(as_text=True))
    response = probe_client.post("/login/demo", data={"person": "citizen:0", "csrf_token": token})
    assert response.status_code == 303
    new = _cookie(probe_client)
    assert new
    assert new != old
    assert "before" not in probe_client.get("/_probe/session").json
    # The token from before the login no longer opens anything.
    probe_client.set_cookie(COOKIE_NAME, old)
    assert probe_client.get("/_probe/session").json == {}
    assert probe_client.get("/_probe/citizen").status_code == 303


def test_logout_destroys_the_stored_session(probe_app: Flask, probe_client: FlaskClient) -> None:
    page = probe_client.get("/login/demo")
    probe_client.post(
        "/login/demo",
        data={"person": "citizen:0", "csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    token = _cookie(probe_client)
    assert probe_client.get("/_probe/citizen").status_code == 200
    header = probe_client.get("/_probe/nothing")
    assert header.status_code == 200
    csrf = csrf_from(probe_client.get("/login/demo").get_data(as_text=True))
    response = probe_client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/logget-ud")
    assert session_interface(probe_app).load(token) is None
    assert _rows(probe_app) == []
    # Replaying the old cookie does not bring the login back.
    probe_client.set_cookie(COOKIE_NAME, token)
    assert probe_client.get("/_probe/citizen").status_code == 303


def test_logout_without_csrf_token_is_refused(probe_client: FlaskClient) -> None:
    page = probe_client.get("/login/demo")
    probe_client.post(
        "/login/demo",
        data={"person": "citizen:0", "csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    assert probe_client.post("/logout").status_code == 400
    assert probe_client.get("/_probe/citizen").status_code == 200


def test_logout_with_get_is_not_allowed(probe_client: FlaskClient) -> None:
    assert probe_client.get("/logout").status_code == 405


def test_https_uses_a_secure_host_prefixed_cookie(app_overrides: dict, app: Flask) -> None:
    probe = make_probe_app({**app_overrides, "base_url": "https://forklaring.example"})
    with rolled_back(probe):
        client = probe.test_client()
        response = client.get("/_probe/set/k/v", base_url="https://localhost")
        header = response.headers["Set-Cookie"]
        assert header.startswith(SECURE_COOKIE_NAME + "=")
        assert "Secure" in header
        assert "Domain" not in header
    get_db(probe).engine.dispose()


def test_interface_reads_timeouts_from_settings() -> None:
    settings = Settings(session_idle_minutes=5, session_absolute_hours=2)
    interface = ServerSessionInterface(store=None, settings=settings)  # type: ignore[arg-type]
    assert interface.idle == dt.timedelta(minutes=5)
    assert interface.absolute == dt.timedelta(hours=2)
    assert interface.cookie_name == COOKIE_NAME


@pytest.mark.redis
def test_redis_backend_stores_encrypted_sessions_with_ttl(
    redis_probe_app: Flask, redis_url: str
) -> None:
    import redis

    client = redis_probe_app.test_client()
    client.get("/_probe/set/colour/blue")
    token = _cookie(client)
    assert token
    interface = session_interface(redis_probe_app)
    prefix = redis_probe_app.config["SETTINGS"].session_redis_prefix
    key = prefix + hashlib.sha256(token.encode()).hexdigest()
    server = redis.Redis.from_url(redis_url)
    raw = server.get(key)
    assert raw is not None
    assert b"blue" not in raw
    ttl = server.ttl(key)
    assert 0 < ttl <= 30 * 60 + 1
    assert client.get("/_probe/session").json == {"colour": "blue"}
    # Nothing went to the database.
    assert _rows(redis_probe_app) == []
    # Logout deletes the Redis key.
    csrf = csrf_from(client.get("/login/demo").get_data(as_text=True))
    client.post("/login/demo", data={"person": "staff:auditor", "csrf_token": csrf})
    new = _cookie(client)
    assert new != token
    assert server.get(key) is None
    assert client.get("/_probe/staff").status_code == 200
    csrf = csrf_from(client.get("/login/demo").get_data(as_text=True))
    client.post("/logout", data={"csrf_token": csrf})
    assert interface.load(new) is None
    assert client.get("/_probe/staff").status_code == 303


def test_machine_api_requests_neither_read_nor_store_a_session(
    probe_app: Flask, probe_client: FlaskClient
) -> None:
    probe_client.get("/_probe/set/colour/blue")
    token = _cookie(probe_client)
    assert token is not None

    response = probe_client.get("/api/_probe/set/colour/red")
    assert response.status_code == 200
    assert response.json == {"colour": "red"}  # the cookie's session was never loaded
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert _cookie(probe_client) == token
    assert probe_client.get("/_probe/session").json == {"colour": "blue"}  # "red" not kept
    assert [row.data for row in _rows(probe_app)] == [{"colour": "blue"}]


def _logged_in(client: FlaskClient) -> str:
    page = client.get("/login/demo")
    client.post(
        "/login/demo",
        data={"person": "citizen:0", "csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    token = _cookie(client)
    assert token
    assert client.get("/_probe/citizen").status_code == 200
    return token


def _logout_during_a_request(app: Flask, client: FlaskClient, *, modified: bool) -> str:
    """Request A opens the session; a logout (another tab) deletes it; A then saves."""
    token = _logged_in(client)
    interface = session_interface(app)
    environ = {"HTTP_COOKIE": f"{COOKIE_NAME}={token}"}
    with app.test_request_context("/_probe/session", environ_base=environ) as ctx:
        in_flight = interface.open_session(app, ctx.request)
        assert in_flight.get("principal") is not None  # A sees the login
        csrf = csrf_from(client.get("/login/demo").get_data(as_text=True))
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
        assert interface.load(token) is None
        if modified:
            in_flight["seen"] = "yes"
        else:  # only the periodic last-seen touch is due
            in_flight.last_seen_at = utcnow() - dt.timedelta(minutes=5)
        response = app.response_class("A")
        interface.save_session(app, in_flight, response)
    assert interface.load(token) is None, "the save brought the logged-out session back"
    assert f"{COOKIE_NAME}=;" in response.headers.get("Set-Cookie", "")
    return token


@pytest.mark.parametrize("modified", [True, False])
def test_a_save_after_logout_never_recreates_the_session_in_the_database(
    probe_app: Flask, probe_client: FlaskClient, modified: bool
) -> None:
    token = _logout_during_a_request(probe_app, probe_client, modified=modified)

    assert _rows(probe_app) == []
    probe_client.set_cookie(COOKIE_NAME, token)
    assert probe_client.get("/_probe/citizen").status_code == 303


@pytest.mark.redis
@pytest.mark.parametrize("modified", [True, False])
def test_a_save_after_logout_never_recreates_the_session_in_redis(
    redis_probe_app: Flask, redis_url: str, modified: bool
) -> None:
    import redis

    client = redis_probe_app.test_client()
    token = _logout_during_a_request(redis_probe_app, client, modified=modified)

    prefix = redis_probe_app.config["SETTINGS"].session_redis_prefix
    key = prefix + hashlib.sha256(token.encode()).hexdigest()
    assert redis.Redis.from_url(redis_url).exists(key) == 0
    client.set_cookie(COOKIE_NAME, token)
    assert client.get("/_probe/citizen").status_code == 303


@pytest.mark.redis
def test_a_redis_session_copied_to_another_key_does_not_open(
    redis_probe_app: Flask, redis_url: str
) -> None:
    import redis

    prefix = redis_probe_app.config["SETTINGS"].session_redis_prefix
    server = redis.Redis.from_url(redis_url)
    alice, mallory = redis_probe_app.test_client(), redis_probe_app.test_client()
    alice.get("/_probe/set/colour/blue")
    mallory.get("/_probe/set/colour/red")
    key_of = {
        client: prefix + hashlib.sha256(str(_cookie(client)).encode()).hexdigest()
        for client in (alice, mallory)
    }
    # Someone who can write to Redis copies Alice's ciphertext under Mallory's key.
    server.set(key_of[mallory], server.get(key_of[alice]), ex=60)
    assert mallory.get("/_probe/session").json == {}  # no session, and not Alice's
    assert alice.get("/_probe/session").json == {"colour": "blue"}
