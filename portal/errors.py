"""Domain errors and their one mapping to HTTP.

Services raise :class:`PortalError` subclasses; nothing else decides a status code.
API requests get ``{"error": {"code", "message", "details"}}``; pages get a translated
error page. No stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

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
) -> tuple[Response, int] | tuple[str, int]:
    """Render one error as JSON (API) or as a translated page; roll back the request's work."""
    from portal.db_session import rollback_request_session

    rollback_request_session()
    g.cache_public = False  # an error page is never cached, even on a public route
    if wants_json():
        # Machine clients read the stable code; the message is English for their developers.
        with force_locale("en"):
            text = str(message)
        body = {"error": {"code": code, "message": text, "details": details or []}}
        return jsonify(body), status
    g.error_code = code
    return render_template("errors/error.html", status=status, message=message), status


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

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
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
