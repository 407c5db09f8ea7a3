"""Security headers, CSRF protection and rate limits for every response."""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

# No inline script or style anywhere: the pages work without JavaScript, and the few
# scripts we ship are files under /static.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

csrf = CSRFProtect()


def _failed_signature_limit() -> str:
    return str(current_app.config["SETTINGS"].api_signature_failure_ratelimit)


def _not_signed_api() -> bool:
    return request.blueprint != "api"


def _signature_refused(response: Response) -> bool:
    return response.status_code == 401


# Every key is the client address (``request.remote_addr``: ProxyFix has put the address
# the trusted proxies saw there). The one application limit counts the API requests whose
# signature was refused (401) per address: it is checked before any signature work, so an
# address past it gets 429 for every API call until its window ends, whatever system name
# it sends. The per-system limit itself is on the API views (keyed by the verified system).
limiter = Limiter(
    key_func=get_remote_address,
    application_limits=[_failed_signature_limit],
    application_limits_exempt_when=_not_signed_api,
    application_limits_deduct_when=_signature_refused,
)


def mark_public() -> None:
    """Let this response be cached (public register pages) when it is the anonymous
    visitor's, the same for everyone; everything else is ``private, no-store``."""
    g.cache_public = True


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if request.path.startswith("/static/"):
        headers["Cache-Control"] = "public, max-age=3600"
    elif g.get("cache_public") and _same_for_everyone():
        headers["Cache-Control"] = "public, max-age=300"
        # The language is the visitor's choice (cookie) or their browser's.
        response.vary.update(("Cookie", "Accept-Language"))
    else:
        # Personal by default: nothing is kept by browsers or proxies unless a view says so.
        headers["Cache-Control"] = "private, no-store"
        headers["Pragma"] = "no-cache"
    return response


def _same_for_everyone() -> bool:
    """A public page is cached only as an anonymous visitor with nothing in the session
    sees it: a logged-in visitor's copy has their name and a CSRF token in the header
    (the logout form), and any stored session may show up in the page."""
    return not session and "csrf_token" not in g


def absolute_url(endpoint: str, **values: object) -> str:
    """An absolute URL to ``endpoint`` on PORTAL_BASE_URL, never on the request's Host
    header (which a client or a proxy may set to anything). For links that leave the site's
    pages: PDFs, letters. Pages themselves link with plain paths."""
    base = str(current_app.config["SETTINGS"].base_url).rstrip("/")
    return base + url_for(endpoint, **values)


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # bound by the session lifetime instead
    csrf.init_app(app)
    limiter.init_app(app)
    app.jinja_env.globals["absolute_url"] = absolute_url
    app.after_request(_security_headers)
