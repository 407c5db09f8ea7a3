"""Helpers for the login tests: a probe app, a rolled-back binding, the CSRF token."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, jsonify, session

from portal import create_app
from portal.auth.principal import citizen_required, current_principal, staff_required


def _add_probe_routes(app: Flask) -> None:
    @app.get("/_probe/set/<key>/<value>")
    def probe_set(key: str, value: str) -> Any:
        session[key] = value
        return "ok"

    @app.get("/_probe/session")
    def probe_session() -> Any:
        return jsonify(dict(session))

    @app.get("/api/_probe/set/<key>/<value>")  # under the machine API's prefix
    def probe_api_set(key: str, value: str) -> Any:
        session[key] = value
        return jsonify(dict(session))

    @app.get("/_probe/nothing")
    def probe_nothing() -> Any:
        return "nothing"

    @app.get("/_probe/citizen")
    @citizen_required
    def probe_citizen() -> Any:
        principal = current_principal()
        assert principal is not None
        return jsonify({"subject_key": principal.subject_key, "display": principal.display})

    @app.get("/_probe/caseworker")
    @staff_required("caseworker")
    def probe_caseworker() -> Any:
        return "caseworker"

    @app.get("/_probe/staff")
    @staff_required()
    def probe_staff() -> Any:
        return "staff"


def make_probe_app(overrides: dict[str, Any]) -> Flask:
    app = create_app(overrides)
    _add_probe_routes(app)
    return app


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)
