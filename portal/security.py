"""Security headers, CSRF protection and rate limits for every response."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits import RateLimitItem, parse_many
from limits.strategies import RateLimiter

import portal.ratelimit_storage  # noqa: F401  (registers the portal-memory:// storage)
from portal.errors import RateLimited

log = logging.getLogger(__name__)

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

# Blueprints whose limit ``limit_blueprint`` checks with ``limits`` directly.
_direct_blueprints: set[str] = set()


class _Limiter(Limiter):
    """Flask-Limiter, not even looking at the blueprints checked directly. An exemption alone
    still has it resolve each of their requests' limits (to find none), which costs most of
    what a check does. Should a new Flask-Limiter rename this hook, the exemption still keeps
    the limits right (a test notices the lost speed)."""

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if request.blueprint in _direct_blueprints:
            return
        super()._check_request_limit(callable_name, in_middleware)


csrf = CSRFProtect()
limiter = _Limiter(key_func=get_remote_address)


def mark_public() -> None:
    """Let this response be cached (public register pages); everything else is no-store."""
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
    elif g.get("cache_public"):
        headers["Cache-Control"] = "public, max-age=300"
    else:
        # Personal by default: nothing is kept by browsers or proxies unless a view says so.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


# --- A blueprint's limit checked with ``limits`` directly -----------------------------------
# Flask-Limiter resolves which limits apply (route, blueprint, defaults, exemptions, meta
# limits) on every request and again to write the headers: ~0.22 ms of CPU per API request
# (~0.07 ms this way; a decision takes ~5 ms in all). ``limit_blueprint`` checks one known
# limit with the strategy object Flask-Limiter built (same storage, same strategy, same
# storage keys, so counts carry over and are shared through Redis), leaving only the
# counting itself.

_DIRECT = "portal.direct_ratelimit"


@dataclass(frozen=True)
class _DirectLimiter:
    strategy: RateLimiter  # Flask-Limiter's own (RATELIMIT_STRATEGY on RATELIMIT_STORAGE_URI)
    key_prefix: str
    headers: bool


@dataclass(frozen=True)
class _Hit:
    strategy: RateLimiter
    item: RateLimitItem
    args: tuple[str, ...]


@functools.lru_cache(maxsize=64)
def parsed_limits(limit_string: str) -> tuple[RateLimitItem, ...]:
    """The limits of a limit string (``"6000 per minute; 200 per second"``), parsed once per
    string; shortest window first, the order Flask-Limiter checks them in. An empty or
    unreadable string limits nothing, as with Flask-Limiter (which logs it too)."""
    if not limit_string:
        return ()
    try:
        return tuple(sorted(parse_many(limit_string)))
    except ValueError:
        log.error("unreadable rate limit %r: not applied", limit_string)
        return ()


def limit_blueprint(
    bp: Blueprint,
    limit: Callable[[], str],
    key_func: Callable[[], str],
    *,
    exempt: Iterable[str] = (),
) -> None:
    """Limit every view of ``bp`` as ``limiter.limit(limit, key_func=key_func)(bp)`` did: each
    view counted on its own (storage key: key, endpoint), ``X-RateLimit-*`` and ``Retry-After``
    headers when RATELIMIT_HEADERS_ENABLED, :class:`RateLimited` (429) once a limit is
    exceeded. The views named in ``exempt`` are not limited at all. Flask-Limiter itself
    leaves the blueprint alone."""
    limiter.exempt(bp)
    _direct_blueprints.add(bp.name)
    unlimited = frozenset(f"{bp.name}.{view}" for view in exempt)

    @bp.before_request
    def _check_rate_limit() -> None:
        direct: _DirectLimiter | None = current_app.extensions.get(_DIRECT)
        endpoint = request.endpoint
        if direct is None or endpoint in unlimited:
            return
        args = (key_func(), endpoint)
        if direct.key_prefix:
            args = (direct.key_prefix, *args)
        items = parsed_limits(limit())
        breached = None
        for item in items:
            if not direct.strategy.hit(item, *args):
                breached = item
                break
        if direct.headers and items:
            g.rate_limit_hit = _Hit(direct.strategy, breached or items[0], args)
        if breached is not None:
            # The endpoint and the limit; not the key, which holds the client's address.
            log.info("rate limit %s exceeded at %s", breached, endpoint)
            raise RateLimited()

    bp.after_request(_rate_limit_headers)


def _rate_limit_headers(response: Response) -> Response:
    """Flask-Limiter's headers under their default names (no RATELIMIT_HEADER_* is set),
    with the same values: the limit checked (or breached), what is left of it after this
    request, the window's end, and Retry-After in seconds until then."""
    hit: _Hit | None = g.pop("rate_limit_hit", None)
    if hit is None:
        return response
    reset, remaining = hit.strategy.get_window_stats(hit.item, *hit.args)
    reset_at = int(reset + 1)
    headers = response.headers
    headers["X-RateLimit-Limit"] = str(hit.item.amount)
    headers["X-RateLimit-Remaining"] = str(remaining)
    headers["X-RateLimit-Reset"] = str(reset_at)
    headers["Retry-After"] = str(int(reset_at - time.time()))
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # bound by the session lifetime instead
    csrf.init_app(app)
    limiter.init_app(app)
    # Kept per app (the Limiter is one object for every app a process builds; tests build
    # several): None when limits are off (RATELIMIT_ENABLED false, as in tests).
    app.extensions[_DIRECT] = (
        _DirectLimiter(
            strategy=limiter.limiter,
            key_prefix=app.config.get("RATELIMIT_KEY_PREFIX", ""),
            headers=bool(app.config.get("RATELIMIT_HEADERS_ENABLED")),
        )
        if app.config["RATELIMIT_ENABLED"]
        else None
    )
    app.after_request(_security_headers)
