"""Login through a real OpenID provider (oidc-provider on Node) and a real HTTP server.

Everything a browser does happens for real: redirects, cookies, state, nonce, PKCE and
the token exchange. Failures must leave nobody logged in.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from auth_support import make_probe_app
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey
from oidc_support import (
    CITIZEN_CLIENT,
    CPR_CLAIM,
    STAFF_CLIENT,
    Browser,
    PortalServer,
    ProviderProcess,
    free_port,
    signing_key,
)
from sqlalchemy import select

from portal.auth.models import CitizenAccount, StaffPrincipal
from portal.auth.oidc import OIDCClient, clear_cache
from portal.auth.services import LoginFailed
from portal.auth.sessions import StoredSession, session_interface
from portal.config import OIDCProvider
from portal.crypto import lookup_key
from portal.db_session import get_db
from portal.migrate import upgrade
from portal.oversight.models import AuditEvent

pytestmark = [pytest.mark.oidc, pytest.mark.slow]

PENDING = "oidc_pending"


@pytest.fixture(scope="module")
def portal_server() -> Iterator[PortalServer]:
    server = PortalServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def provider(portal_server: PortalServer) -> Iterator[ProviderProcess]:
    process = ProviderProcess.start(portal_server.redirect_uris, signing_key())
    yield process
    process.stop()


@pytest.fixture(scope="module")
def oidc_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('oidc') / 'oidc.db'}"


@pytest.fixture(scope="module")
def mount(
    portal_server: PortalServer,
    provider: ProviderProcess,
    app_overrides: dict[str, Any],
    oidc_database: str,
) -> Iterator[Callable[..., Flask]]:
    """``mount(**settings)``: serve a portal app with these settings on the test server."""
    apps: list[Flask] = []
    migrated = False

    def make(citizen: dict[str, Any] | None = None, **overrides: Any) -> Flask:
        nonlocal migrated
        clear_cache()
        app = make_probe_app(
            {
                **app_overrides,
                "database_url": oidc_database,
                "base_url": portal_server.base_url,
                "citizen_oidc": OIDCProvider(
                    **{"issuer": provider.issuer, **CITIZEN_CLIENT, **(citizen or {})}
                ),
                "staff_oidc": OIDCProvider(
                    issuer=provider.issuer, scope="openid profile", **STAFF_CLIENT
                ),
                **overrides,
            }
        )
        if not migrated:
            with get_db(app).engine.begin() as conn:
                upgrade(conn)
            migrated = True
        apps.append(app)
        portal_server.app = app
        return app

    yield make
    for app in apps:
        get_db(app).engine.dispose()


@pytest.fixture
def portal(mount: Callable[..., Flask]) -> Flask:
    return mount()


@pytest.fixture
def browser(portal_server: PortalServer) -> Browser:
    return Browser(portal_server.base_url)


def _cookie_name(app: Flask) -> str:
    return session_interface(app).cookie_name


def _stored(app: Flask, browser: Browser) -> StoredSession:
    token = browser.cookie(_cookie_name(app))
    assert token
    stored = session_interface(app).load(token)
    assert stored is not None
    return stored


def _tamper(app: Flask, browser: Browser, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the server-side session behind the browser's cookie (an attacker can't;
    the test does it to make one check fail on purpose)."""
    token = browser.cookie(_cookie_name(app))
    assert token
    stored = _stored(app, browser)
    data = dict(stored.data)
    change(data)
    session_interface(app).store.update(
        hashlib.sha256(token.encode()).hexdigest(),
        StoredSession(data, stored.created_at, stored.last_seen_at, stored.expires_at),
    )


def _logins(app: Flask) -> int:
    with get_db(app).transaction() as db:
        return len(db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login")).all())


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _logged_in_as_citizen(browser: Browser) -> bool:
    return browser.get("/_probe/citizen").status_code == 200


# ----------------------------------------------------------------------------- success


def test_citizen_login_with_mitid(
    portal: Flask, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = _logins(portal)
    start = browser.get("/login/borger?next=/mine-sager")
    assert start.status_code == 303
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"][0]
    assert query["state"][0]
    assert query["nonce"][0]
    assert query["acr_values"] == ["substantial"]
    assert query["redirect_uri"] == [browser.portal + "/login/borger/callback"]
    anonymous_token = browser.cookie(_cookie_name(portal))
    assert anonymous_token

    callback = browser.until_callback("/login/borger?next=/mine-sager", "anne")
    response = browser.get(callback)
    assert response.status_code == 303
    assert response.headers["Location"] == "/mine-sager"

    # The session id was rotated at login; the pre-login token is dead.
    assert browser.cookie(_cookie_name(portal)) != anonymous_token
    assert session_interface(portal).load(anonymous_token) is None
    probe = browser.get("/_probe/citizen")
    assert probe.status_code == 200
    key = lookup_key(portal.config["SETTINGS"].lookup_key, "0105852468")
    assert probe.json() == {"subject_key": key, "display": "Du er logget ind"}

    # The CPR is nowhere: not in the account row, the session, the audit trail or the log.
    with get_db(portal).transaction() as db:
        account = db.scalars(
            select(CitizenAccount).where(
                CitizenAccount.issuer == portal.config["SETTINGS"].citizen_oidc.issuer,
                CitizenAccount.subject == "anne",
            )
        ).one()
        assert account.subject_key == key
        event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (event.action, event.actor_kind, event.subject_key) == ("auth.login", "citizen", key)
    assert event.details["acr"] == "substantial"
    assert "0105852468" not in repr(event.details)
    assert "0105852468" not in repr(_stored(portal, browser).data)
    assert "0105852468" not in caplog.text
    assert _logins(portal) == before + 1


def test_higher_assurance_is_accepted(portal: Flask, browser: Browser) -> None:
    browser.get(browser.until_callback("/login/borger", "bo-high"))
    assert _logged_in_as_citizen(browser)


def test_broker_cpr_claim_name_is_configurable(
    mount: Callable[..., Flask], browser: Browser
) -> None:
    app = mount(citizen={"cpr_claim": "cprNumberIdentifier"})
    response = browser.get(browser.until_callback("/login/borger", "broker"))
    assert response.status_code == 303
    key = lookup_key(app.config["SETTINGS"].lookup_key, "0106721355")
    assert browser.get("/_probe/citizen").json()["subject_key"] == key


def test_staff_login_maps_role_and_unit(portal: Flask, browser: Browser) -> None:
    response = browser.get(browser.until_callback("/login/medarbejder", "kim"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/sagsbehandler"
    assert browser.get("/_probe/caseworker").status_code == 200
    assert browser.get("/_probe/citizen").status_code == 404
    with get_db(portal).transaction() as db:
        staff = db.scalars(select(StaffPrincipal).where(StaffPrincipal.subject == "kim")).one()
        assert (staff.role, staff.unit, staff.display_name) == (
            "caseworker",
            "Team Vest",
            "Kim Test",
        )


def test_staff_auditor_role(portal: Flask, browser: Browser) -> None:
    browser.get(browser.until_callback("/login/medarbejder", "revisor"))
    assert browser.get("/_probe/staff").status_code == 200
    assert browser.get("/_probe/caseworker").status_code == 403


def test_logout_after_oidc_login(portal: Flask, browser: Browser) -> None:
    browser.get(browser.until_callback("/login/borger", "anne"))
    token = browser.cookie(_cookie_name(portal))
    page = browser.get("/login")
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    response = browser.http.post(
        browser.portal + "/logout", data={"csrf_token": csrf.group(1)}, allow_redirects=False
    )
    assert response.status_code == 303
    assert session_interface(portal).load(token) is None
    assert not _logged_in_as_citizen(browser)
    with get_db(portal).transaction() as db:
        last = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert last.action == "auth.logout"


# ---------------------------------------------------------------------------- failures


def test_wrong_state_is_refused(portal: Flask, browser: Browser) -> None:
    before = _logins(portal)
    callback = browser.until_callback("/login/borger", "anne")
    response = browser.get(_with_query(callback, state="forged-state"))
    assert response.status_code == 401
    assert "Prøv igen" in response.text
    assert not _logged_in_as_citizen(browser)
    # The pending login is used up: the right state no longer works either.
    assert browser.get(callback).status_code == 401
    assert _logins(portal) == before


def test_replayed_code_is_refused(
    portal: Flask, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portal.auth.oidc")
    callback = browser.until_callback("/login/borger", "anne")
    pending = _stored(portal, browser).data[PENDING]
    assert browser.get(callback).status_code == 303
    assert _logged_in_as_citizen(browser)
    before = _logins(portal)
    # Put the same pending login back, so state matches and only the code is replayed.
    _tamper(portal, browser, lambda data: data.update({PENDING: pending}))
    response = browser.get(callback)
    assert response.status_code == 401
    assert "token request refused: invalid_grant" in caplog.text
    assert _logins(portal) == before


def test_wrong_pkce_verifier_is_refused(
    portal: Flask, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portal.auth.oidc")
    callback = browser.until_callback("/login/borger", "anne")
    _tamper(portal, browser, lambda data: data[PENDING].update(code_verifier="x" * 64))
    assert browser.get(callback).status_code == 401
    assert "token request refused: invalid_grant" in caplog.text
    assert not _logged_in_as_citizen(browser)


def test_wrong_nonce_is_refused(
    portal: Flask, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portal.auth.oidc")
    callback = browser.until_callback("/login/borger", "anne")
    _tamper(portal, browser, lambda data: data[PENDING].update(nonce="another-nonce"))
    assert browser.get(callback).status_code == 401
    assert "ID token refused" in caplog.text
    assert not _logged_in_as_citizen(browser)


def test_too_low_assurance_is_refused(portal: Flask, browser: Browser) -> None:
    before = _logins(portal)
    response = browser.get(browser.until_callback("/login/borger", "lav"))
    assert response.status_code == 403
    assert "ikke sikkert nok" in response.text
    assert not _logged_in_as_citizen(browser)
    assert _logins(portal) == before


def test_login_without_cpr_is_refused(portal: Flask, browser: Browser) -> None:
    response = browser.get(browser.until_callback("/login/borger", "no-cpr"))
    assert response.status_code == 401
    assert not _logged_in_as_citizen(browser)


def test_expired_id_token_is_refused(
    mount: Callable[..., Flask], browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount(oidc_leeway_seconds=0)
    callback = browser.until_callback("/login/borger", "expiring")
    # The provider issues this account's ID tokens with a one-second lifetime; the
    # portal's clock runs five seconds ahead of the provider's (clock skew, no leeway).
    monkeypatch.setattr(OIDCClient, "clock", staticmethod(lambda: int(time.time()) + 5))
    assert browser.get(callback).status_code == 401
    assert not _logged_in_as_citizen(browser)


def test_clock_skew_within_leeway_is_accepted(
    mount: Callable[..., Flask], browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount(oidc_leeway_seconds=60)
    callback = browser.until_callback("/login/borger", "expiring")
    monkeypatch.setattr(OIDCClient, "clock", staticmethod(lambda: int(time.time()) + 5))
    assert browser.get(callback).status_code == 303
    assert _logged_in_as_citizen(browser)


def test_unknown_staff_role_is_refused(portal: Flask, browser: Browser) -> None:
    response = browser.get(browser.until_callback("/login/medarbejder", "chef"))
    assert response.status_code == 403
    assert "ingen rolle" in response.text
    assert browser.get("/_probe/staff").status_code == 303


def test_cancelled_login_is_refused(portal: Flask, browser: Browser) -> None:
    # An account the provider does not know: it answers error=access_denied.
    response = browser.get(browser.until_callback("/login/borger", "nobody"))
    assert response.status_code == 401
    assert "afbrød" in response.text
    assert not _logged_in_as_citizen(browser)


def test_citizen_callback_cannot_finish_a_staff_login(portal: Flask, browser: Browser) -> None:
    callback = browser.until_callback("/login/medarbejder", "kim")
    swapped = callback.replace("/login/medarbejder/callback", "/login/borger/callback")
    assert browser.get(swapped).status_code == 401
    assert browser.get("/_probe/staff").status_code == 303


def test_wrong_issuer_fails_closed(
    mount: Callable[..., Flask], provider: ProviderProcess, browser: Browser
) -> None:
    # Same server, but we expect another issuer name: discovery's issuer does not match.
    wrong = provider.issuer.replace("127.0.0.1", "localhost")
    mount(citizen={"issuer": wrong})
    response = browser.get("/login/borger")
    assert response.status_code == 502
    assert "Du er ikke blevet logget ind" in response.text


def test_provider_down_fails_closed_with_a_clear_message(
    mount: Callable[..., Flask], browser: Browser
) -> None:
    mount(citizen={"issuer": f"http://127.0.0.1:{free_port()}"}, oidc_timeout_seconds=2)
    response = browser.get("/login/borger")
    assert response.status_code == 502
    assert "Vi kan ikke få forbindelse til login-tjenesten" in response.text
    assert "Location" not in response.headers
    assert not _logged_in_as_citizen(browser)


# ------------------------------------------ ID token checks, with tokens signed by the test


def _client(provider: ProviderProcess, **changes: Any) -> OIDCClient:
    clear_cache()
    return OIDCClient(
        OIDCProvider(issuer=provider.issuer, **CITIZEN_CLIENT, **changes),
        redirect_uri="http://127.0.0.1/cb",
        leeway=0,
    )


def _claims(provider: ProviderProcess, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": CITIZEN_CLIENT["client_id"],
        "sub": "anne",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        "acr": "substantial",
        CPR_CLAIM: "0105852468",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: RSAKey, kid: str = "test-1") -> str:
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


def test_a_correct_token_signed_with_the_provider_key_passes(provider: ProviderProcess) -> None:
    claims = _client(provider).verify_id_token(_sign(_claims(provider), provider.key), nonce="n-1")
    assert claims["sub"] == "anne"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "another-client"}, "audience"),
        ({"aud": ["portal-citizen", "another-client"]}, "several audiences, no azp"),
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"iat": int(time.time()) + 3600}, "issued in the future"),
        ({"nonce": "n-2"}, "nonce"),
        ({"nonce": None}, "nonce missing"),
        ({"exp": None}, "exp missing"),
    ],
)
def test_bad_id_token_claims_are_refused(
    provider: ProviderProcess, changes: dict[str, Any], why: str
) -> None:
    token = _sign(_claims(provider, **changes), provider.key)
    with pytest.raises(LoginFailed):
        _client(provider).verify_id_token(token, nonce="n-1")


def test_token_signed_with_another_key_is_refused(provider: ProviderProcess) -> None:
    other = signing_key()
    with pytest.raises(LoginFailed):
        _client(provider).verify_id_token(_sign(_claims(provider), other), nonce="n-1")


def test_unsigned_token_is_refused(provider: ProviderProcess) -> None:
    import base64
    import json

    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none'})}.{b64(_claims(provider))}."
    with pytest.raises(LoginFailed):
        _client(provider).verify_id_token(token, nonce="n-1")


@pytest.mark.parametrize("path", ["/login/borger", "/login/medarbejder"])
@pytest.mark.parametrize("target", ["//evil.example/", "/a\r\nb", "/\\evil.example", "/a\u2028b"])
def test_junk_next_is_refused_before_the_provider_is_asked(
    portal: Flask, browser: Browser, path: str, target: str
) -> None:
    start = browser.get(path, params={"next": target})
    assert start.status_code == 400
    assert "Location" not in start.headers
    assert browser.cookie(_cookie_name(portal)) is None  # no pending login stored
