"""Front page, information pages, the language switch and the health and readiness checks."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, request

from portal.db_session import get_db, render_page
from portal.i18n import LANGUAGE_COOKIE, LANGUAGES, safe_next
from portal.main.readiness import readiness
from portal.security import mark_public

bp = Blueprint("main", __name__, template_folder="templates")


@bp.get("/")
def index() -> str:
    mark_public()
    return render_page("main/index.html")


# When the accessibility statement was prepared and last reviewed (update it with the page).
STATEMENT_PREPARED = dt.date(2026, 12, 3)
ENFORCEMENT_URL = (
    "https://digst.dk/digital-inklusion/webtilgaengelighed/oplever-du-ikke-tilgaengeligt-indhold/"
)


@bp.get("/tilgaengelighed")
def accessibility() -> str:
    mark_public()
    return render_page(
        "main/accessibility.html", prepared=STATEMENT_PREPARED, enforcement_url=ENFORCEMENT_URL
    )


@bp.get("/privatliv")
def privacy() -> str:
    mark_public()
    return render_page("main/privacy.html")


@bp.get("/kontakt")
def contact() -> str:
    mark_public()
    return render_page("main/contact.html")


@bp.get("/sprog/<language>")
def set_language(language: str) -> Response:
    """The language switch: remember the choice and go back to the same page."""
    if language not in LANGUAGES:
        abort(404)
    response = redirect(safe_next(request.args.get("next")), code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        httponly=True,
        secure=request.is_secure,
    )
    return response


@bp.get("/healthz")
def health() -> tuple[Response, int]:
    """Liveness: the process answers. It asks nothing of the database, so a busy or broken
    database never makes an orchestrator restart healthy processes (``/readyz`` tells)."""
    return jsonify({"status": "ok"}), 200


@bp.get("/readyz")
def ready() -> tuple[Response, int]:
    """Readiness: database writable, migrations at head, broker reachable (when used)."""
    result = readiness(get_db(), current_app.config["SETTINGS"])
    return jsonify(result.to_json()), 200 if result.ready else 503
