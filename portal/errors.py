"""Domain errors and their one mapping to HTTP.

Services raise :class:`PortalError` subclasses; nothing else decides a status code.
API requests get ``{"error": {"code", "message", "details"}}``; pages get a translated
error page. No stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Flask, Response, g, jsonify, make_response, render_template, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


class PortalError(Exception):
    """Base of every expected error. ``code`` is a stable kebab-case identifier."""

    status = 400
    code = "bad-request"
    message: Any = _l("The request could not be handled.")

    def __init__(
        self,
        message: Any = None,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        self.details = details or []
        # The code, not the message: a lazy translated message cannot be turned into text
        # outside a request (CLI commands, workers).
        super().__init__(self.code)


class BadRequest(PortalError):
    status = 400
    code = "bad-request"


class Unauthorized(PortalError):
    status = 401
    code = "unauthorized"
    message = _l("You must log in to see this page.")


class Forbidden(PortalError):
    status = 403
    code = "forbidden"
    message = _l("You do not have access to this page.")


class NotFound(PortalError):
    """Also used for 'exists but is not yours': no hint that it exists."""

    status = 404
    code = "not-found"
    message = _l("We could not find the page you asked for.")


class Conflict(PortalError):
    status = 409
    code = "conflict"
    message = _l("The request conflicts with what is already stored.")


class PayloadTooLarge(PortalError):
    status = 413
    code = "payload-too-large"
    message = _l("The request is too large.")


class ValidationFailed(PortalError):
    status = 422
    code = "validation-failed"
    message = _l("The request did not pass validation.")


class RateLimited(PortalError):
    status = 429
    code = "rate-limited"
    message = _l("Too many requests. Please wait a moment and try again.")


class DatabaseUnavailable(PortalError):
    """The database is busy (locked), read-only or unreachable: try again later."""

    status = 503
    code = "database-unavailable"
    message = _l("We are very busy right now. Please try again in a moment.")


#: Seconds a client is told to wait (``Retry-After``) when the database is unavailable.
RETRY_AFTER_SECONDS = 5

# SQLite primary result codes that mean "busy or broken, try again", never a fault in our
# SQL: BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL. (SQLITE_ERROR, the
# code of "no such table" or a syntax error, is a programming error and stays a 500.)
_SQLITE_UNAVAILABLE = frozenset({5, 6, 7, 8, 10, 13, 14, 15})
# PostgreSQL SQLSTATE classes and codes of the same: connection exceptions, insufficient
# resources, system (I/O) errors, operator intervention (shutdown, cannot connect now,
# query cancelled by statement timeout), lock not available (lock_timeout), serialization
# failure and deadlock, and a read-only transaction (a standby or a read-only database).
_PG_UNAVAILABLE_CLASSES = ("08", "53", "58", "57P")
_PG_UNAVAILABLE_CODES = frozenset({"57014", "55P03", "40001", "40P01", "25006"})


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database is busy, read-only or unreachable (a 503), as
    opposed to a programming error such as a missing table or bad SQL (a 500)."""
    if isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True  # no connection from the pool in time, or a dropped connection
    if isinstance(exc, sqlite3.Error):
        orig: Any = exc  # raised by the driver itself (portal.db's BEGIN IMMEDIATE)
    elif isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
    else:
        return False
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return sqlite_code & 0xFF in _SQLITE_UNAVAILABLE
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return sqlstate in _PG_UNAVAILABLE_CODES or sqlstate.startswith(_PG_UNAVAILABLE_CLASSES)
    # A driver error without a state, at connect (refused, unknown host, timeout).
    return isinstance(exc, sa_exc.OperationalError) and type(orig).__module__.startswith(
        ("psycopg", "psycopg2")
    )


_HTTP_CODES = {
    400: ("bad-request", _l("The request could not be understood.")),
    401: ("unauthorized", Unauthorized.message),
    403: ("forbidden", Forbidden.message),
    404: ("not-found", NotFound.message),
    405: ("method-not-allowed", _l("This method is not allowed here.")),
    413: ("payload-too-large", PayloadTooLarge.message),
    415: ("unsupported-media-type", _l("The content type is not supported.")),
    429: ("rate-limited", RateLimited.message),
    500: ("internal-error", _l("Something went wrong on our side. Please try again later.")),
    503: ("unavailable", _l("The service is unavailable right now. Please try again later.")),
}


def wants_json() -> bool:
    # the API, and the data documents beside pages (/algoritmer.json, /mine-data.json)
    return request.path.startswith("/api/") or request.path.endswith(".json")


def error_response(
    status: int, code: str, message: Any, details: list[dict[str, Any]] | None = None
) -> Response:
    """Render one error as JSON (API) or as a translated page; roll back the request's work."""
    from portal.db_session import rollback_request_session

    rollback_request_session()
    g.cache_public = False  # an error page is never cached, even on a public route
    if wants_json():
        # Machine clients read the stable code; the message is English for their developers.
        with force_locale("en"):
            text = str(message)
        body = {"error": {"code": code, "message": text, "details": details or []}}
        response = jsonify(body)
    else:
        g.error_code = code
        # (the unavailable page needs nothing from the database, not even the login)
        template = "errors/unavailable.html" if status == 503 else "errors/error.html"
        response = make_response(render_template(template, status=status, message=message))
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _unavailable(exc: BaseException) -> Response:
    # The kind of failure, never its text (it may quote a statement with personal data).
    log.warning("database unavailable on %s %s: %s", request.method, request.path, _kind(exc))
    error = DatabaseUnavailable()
    return error_response(error.status, error.code, error.message)


def _kind(exc: BaseException) -> str:
    """``OperationalError/OperationalError/SQLITE_BUSY``: wrapper, driver error, its code."""
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
    return f"{type(exc).__name__}/{type(orig).__name__}/{state}"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(PortalError)
    def _portal_error(exc: PortalError) -> Any:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        return error_response(
            400,
            "csrf-failed",
            _l("The form had expired or was not sent from this site. Please try again."),
        )

    @app.errorhandler(sa_exc.DBAPIError)
    @app.errorhandler(sqlite3.Error)
    @app.errorhandler(sa_exc.TimeoutError)
    @app.errorhandler(sa_exc.DisconnectionError)
    def _database_error(exc: Exception) -> Any:
        if database_unavailable(exc):
            return _unavailable(exc)
        return _unexpected(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        # An error outside the view (opening the session, the commit after it, saving the
        # session) reaches Flask as a 500 wrapping the original.
        if isinstance(exc, InternalServerError) and database_unavailable(exc.original_exception):
            return _unavailable(exc.original_exception)  # type: ignore[arg-type]
        status = exc.code or 500
        code, message = _HTTP_CODES.get(status, ("http-error", exc.description))
        return error_response(status, code, message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if app.config.get("PROPAGATE_UNEXPECTED"):
            raise exc
        # Log the type and where, not the arguments: they may hold personal data.
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.path)
        code, message = _HTTP_CODES[500]
        return error_response(500, code, message)
