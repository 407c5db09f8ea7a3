"""Security headers, CSP without unsafe-inline, and errors that never leak a stack trace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from portal.errors import NotFound

PAGES = ["/", "/algoritmer", "/tilgaengelighed", "/privatliv", "/kontakt", "/findes-ikke"]


@pytest.mark.parametrize("url", [*PAGES, "/api/v1/findes-ikke", "/healthz"])
def test_every_response_has_security_headers(client, url: str) -> None:
    headers = client.get(url).headers
    csp = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_personal_and_error_responses_are_not_stored(client) -> None:
    assert client.get("/findes-ikke").headers["Cache-Control"] == "no-store"
    assert client.get("/algoritmer/findes-ikke").headers["Cache-Control"] == "no-store"
    assert client.get("/healthz").headers["Cache-Control"] == "no-store"
    assert client.get("/algoritmer").headers["Cache-Control"].startswith("public")


def test_templates_have_no_inline_script_or_style(project_root: Path) -> None:
    offenders = []
    for template in (project_root / "portal").rglob("templates/**/*.html"):
        source = template.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source) or "<style" in source:
            offenders.append(str(template))
        if re.search(r"\sstyle=|\son[a-z]+=", source):
            offenders.append(str(template))
    assert offenders == []


def test_api_error_is_json_with_a_stable_code(client) -> None:
    response = client.get("/api/v1/findes-ikke")
    assert response.status_code == 404
    assert response.get_json() == {
        "error": {
            "code": "not-found",
            "message": "We could not find the page you asked for.",
            "details": [],
        }
    }


def test_html_error_is_a_translated_page(client) -> None:
    response = client.get("/findes-ikke")
    assert response.status_code == 404
    assert "Siden findes ikke" in response.get_data(as_text=True)


def test_unexpected_error_shows_no_stack_trace(app_overrides) -> None:
    from portal import create_app

    app: Flask = create_app({**app_overrides, "env": "development"})

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail 0101901234")

    @app.get("/api/v1/boom")
    def api_boom() -> str:
        raise RuntimeError("secret detail 0101901234")

    client = app.test_client()
    page = client.get("/boom")
    assert page.status_code == 500
    assert "secret detail" not in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    api = client.get("/api/v1/boom")
    assert api.status_code == 500
    assert api.get_json()["error"]["code"] == "internal-error"
    assert "secret" not in api.get_data(as_text=True)


def test_domain_errors_roll_back_the_request(app_overrides, connection, session) -> None:
    from portal import create_app
    from portal.db_session import get_db, request_session, writes
    from portal.registry.models import System

    app = create_app(app_overrides)
    get_db(app).session_factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    client = app.test_client()

    @app.get("/_test/rollback")
    @writes
    def rollback_view() -> str:
        request_session().add(System(name="half-stored", responsible_unit="x"))
        request_session().flush()
        raise NotFound()

    assert client.get("/_test/rollback").status_code == 404
    assert session.query(System).filter_by(name="half-stored").count() == 0


def test_login_routes_are_rate_limited_per_client(app_overrides, connection) -> None:
    """With limits on (they are off in the other tests), the login routes answer 429 with a
    translated page once a client passes the login limit."""
    from portal import create_app
    from portal.db_session import get_db

    limited = create_app({**app_overrides, "env": "development", "login_ratelimit": "3 per minute"})
    get_db(limited).session_factory.configure(
        bind=connection, join_transaction_mode="create_savepoint"
    )
    client = limited.test_client()
    statuses = [client.get("/login").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "For mange forespørgsler" in client.get("/login").get_data(as_text=True)
    assert client.get("/algoritmer").status_code == 200  # other pages keep their own limit


def test_posting_a_citizen_request_form_is_rate_limited(app_overrides, connection) -> None:
    """Posting a review or rectification request has a stricter per-client limit (counted
    per form); a GET of the same page is not counted."""
    from portal import create_app
    from portal.db_session import get_db

    limited = create_app(
        {**app_overrides, "env": "development", "request_form_ratelimit": "2 per hour"}
    )
    get_db(limited).session_factory.configure(
        bind=connection, join_transaction_mode="create_savepoint"
    )
    limited.config["WTF_CSRF_ENABLED"] = False  # (a missing token is refused before the limit)
    client = limited.test_client()
    path = "/mine-sager/someone-elses-id/genvurdering"
    assert client.get(path).status_code != 429
    statuses = [client.post(path, data={"message": "x"}).status_code for _ in range(3)]
    assert 429 not in statuses[:2]
    assert statuses[2] == 429
    assert client.post(path.replace("genvurdering", "forkerte-oplysninger")).status_code != 429
    assert client.get(path).status_code != 429
