"""The checks of Settings.validate after the types: ranges, URLs, rate limits, texts, keys
weak by content, and login and session rules (portal/auth).

``portal.config`` imports this module, so it never imports ``portal.config`` (not even under
TYPE_CHECKING: tests/test_layers.py counts every import, and that would be a cycle); a
``settings`` here is a ``portal.config.Settings``.
"""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any
from urllib.parse import urlsplit

MIN_SECRET_LENGTH = 32
# Development and demo placeholders (Settings.with_development_defaults fills them in);
# validate() refuses them in production.
DEV_SECRET = "dev-secret-key-not-for-production-0123456789"  # noqa: S105
DEV_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"dev-encryption-key-not-for-prod!").decode()
DEV_LOOKUP_KEY = "dev-lookup-key-not-for-production-0123456789"
DEV_AUDIT_CHECKPOINT_KEY = "dev-audit-checkpoint-key-not-for-production-0123"
_KNOWN_WEAK = {
    DEV_SECRET,
    DEV_ENCRYPTION_KEY,
    DEV_LOOKUP_KEY,
    DEV_AUDIT_CHECKPOINT_KEY,
    "changeme",
    "secret",
}
# A key is weak by content (production): fewer different characters than this, a run of
# one character this long, or a repeated pattern. A random 32-byte key written in hex or
# base64 passes all three with overwhelming probability.
MIN_DISTINCT_CHARACTERS = 10
MAX_RUN = 8
MIN_DISTINCT_KEY_BYTES = 16

#: Audit events are kept at least this long (six months); retention prunes them after.
MIN_AUDIT_RETENTION_DAYS = 183

# --- ranges, URLs, rate limits, texts ---------------------------------------------------

_KIB, _MIB = 1024, 1024 * 1024
# (lowest, highest) of every integer setting; "between" is inclusive.
_RANGES: dict[str, tuple[int, int]] = {
    "trusted_proxies": (0, 10),
    "session_idle_minutes": (1, 24 * 60),
    "session_absolute_hours": (1, 7 * 24),
    "webhook_tolerance_seconds": (1, 3600),
    "max_webhook_bytes": (1 * _KIB, 16 * _MIB),
    "max_batch_bytes": (1 * _KIB, 256 * _MIB),
    "max_batch_items": (1, 10_000),
    "max_upload_bytes": (1 * _KIB, 1024 * _MIB),
    "verify_max_upload_bytes": (64 * _KIB, 1024 * _MIB),  # and at most max_upload_bytes
    "explanation_job_attempts": (1, 100),
    "audit_retention_days": (MIN_AUDIT_RETENTION_DAYS, 100 * 365),  # at least six months
    "register_figures_seconds": (0, 3600),
    "retention_interval_seconds": (60, 7 * 24 * 3600),
    "audit_seal_seconds": (1, 3600),
    "oidc_leeway_seconds": (0, 300),
    "oidc_timeout_seconds": (1, 120),
    "request_response_days": (1, 30),
    "pdf_worker_decisions": (0, 100_000),
    "pdf_export_hours": (1, 168),
    "supervision_aggregate_seconds": (1, 24 * 3600),
    "supervision_verify_seconds": (1, 7 * 24 * 3600),
    "supervision_min_group_size": (1, 100_000),
    "accessibility_response_workdays": (1, 10),
    "worker_poll_ms": (10, 60_000),
    "worker_batch_size": (1, 10_000),
    "job_lease_seconds": (10, 24 * 3600),
    "job_backoff_seconds": (1, 3600),
    "job_redispatch_seconds": (1, 24 * 3600),
}
_RATELIMITS = (
    "ratelimit_default",
    "api_ratelimit",
    "api_signature_failure_ratelimit",
    "login_ratelimit",
    "request_form_ratelimit",
    "verify_ratelimit",
)
_RATELIMIT_SCHEMES = (
    "memory",
    "redis",
    "rediss",
    "redis+unix",
    "redis+cluster",
    "redis+sentinel",
    "memcached",
)
_BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_AES_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")  # urlsafe base64 of exactly 32 bytes


def setting_problems(settings: Any) -> list[str]:
    """Every problem of settings whose values already have the right types (in this order:
    production-only rules, ranges, URLs, rate limits, texts, keys, login and sessions)."""
    problems: list[str] = []
    if settings.production:
        if settings.demo:
            problems.append("PORTAL_DEMO must be off in production")
        for name, value in _text_keys(settings).items():
            problems.extend(_text_key_problems(name, value))
        if not settings.database_url:
            problems.append("PORTAL_DATABASE_URL is missing")
        if not settings.base_url.startswith("https://"):
            problems.append("PORTAL_BASE_URL must be https:// in production")
        problems.extend(_equal_key_problems(settings))
    problems.extend(_range_problems(settings))
    problems.extend(_url_problems(settings))
    problems.extend(_ratelimit_problems(settings))
    problems.extend(_text_problems(settings))
    if settings.verify_max_upload_bytes > settings.max_upload_bytes:
        problems.append("PORTAL_VERIFY_MAX_UPLOAD_BYTES must not exceed PORTAL_MAX_UPLOAD_BYTES")
    problems.extend(_encryption_key_problems(settings.encryption_key, settings.production))
    problems.extend(_auth_problems(settings))
    return problems


def _range_problems(settings: Any) -> list[str]:
    problems = []
    for name, (lowest, highest) in _RANGES.items():
        if not lowest <= getattr(settings, name) <= highest:
            problems.append(f"PORTAL_{name.upper()} must be between {lowest} and {highest}")
    if not settings.max_webhook_bytes <= settings.max_batch_bytes <= settings.max_upload_bytes:
        problems.append(
            "PORTAL_MAX_WEBHOOK_BYTES <= PORTAL_MAX_BATCH_BYTES <= PORTAL_MAX_UPLOAD_BYTES must"
            " hold (a larger inner limit is never reached)"
        )
    if settings.session_absolute_hours * 60 < settings.session_idle_minutes:
        problems.append("PORTAL_SESSION_IDLE_MINUTES must not exceed the absolute session time")
    if not settings.session_redis_prefix.strip() or settings.session_redis_prefix != (
        settings.session_redis_prefix.strip()
    ):
        problems.append("PORTAL_SESSION_REDIS_PREFIX must be a non-empty word")
    return problems


def _url_problem(
    name: str, value: str, schemes: tuple[str, ...], *, host: bool = True
) -> str | None:
    if value != value.strip() or any(c.isspace() or ord(c) < 32 for c in value):
        return f"{name} must not contain whitespace or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return f"{name} is not a valid URL"
    if value.partition("://")[0] not in schemes or "://" not in value:
        return f"{name} must start with one of {', '.join(s + '://' for s in schemes)}"
    if host and not parts.hostname:
        return f"{name} must name a host"
    return None


def _url_problems(settings: Any) -> list[str]:
    checks: list[tuple[str, str, tuple[str, ...], bool]] = [
        ("PORTAL_BASE_URL", settings.base_url, ("http", "https"), True),
        ("PORTAL_RATELIMIT_STORAGE_URI", settings.ratelimit_storage_uri, _RATELIMIT_SCHEMES, False),
    ]
    if settings.worker == "celery":
        checks.append(
            ("PORTAL_CELERY_BROKER_URL", settings.celery_broker_url, _BROKER_SCHEMES, False)
        )
    if settings.session_backend == "redis":
        checks.append(("PORTAL_REDIS_URL", settings.redis_url, _REDIS_SCHEMES, False))
    for who, provider in (("CITIZEN", settings.citizen_oidc), ("STAFF", settings.staff_oidc)):
        if provider.issuer:
            checks.append((f"PORTAL_{who}_OIDC_ISSUER", provider.issuer, ("http", "https"), True))
    problems = [
        p for n, v, schemes, host in checks if (p := _url_problem(n, v, schemes, host=host))
    ]
    base = urlsplit(settings.base_url)
    if not problems and (base.query or base.fragment):
        problems.append("PORTAL_BASE_URL must not have a query or fragment")
    if settings.database_url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(settings.database_url)
        except ArgumentError:
            problems.append("PORTAL_DATABASE_URL is not a database URL")
    if "@" not in settings.contact_email.strip("@") or any(
        c.isspace() for c in settings.contact_email
    ):
        problems.append("PORTAL_CONTACT_EMAIL must be an email address")
    return problems


def _ratelimit_problems(settings: Any) -> list[str]:
    from limits import parse_many

    problems = []
    for name in _RATELIMITS:
        try:
            parse_many(getattr(settings, name))
        except ValueError:
            problems.append(
                f"PORTAL_{name.upper()} is not a rate limit (e.g. 300 per minute): "
                f"{getattr(settings, name)!r}"
            )
    return problems


_PHONE = re.compile(r"\+?[0-9][0-9 ]{6,18}[0-9]")


def _text_problems(settings: Any) -> list[str]:
    """Texts shown on every page and the claims and scopes asked of the providers."""
    problems = []
    for name in ("municipality", "solution_name"):
        value = getattr(settings, name)
        if not value.strip() or value != value.strip() or any(ord(c) < 32 for c in value):
            problems.append(f"PORTAL_{name.upper()} must be a text without surrounding spaces")
    if settings.contact_phone and not _PHONE.fullmatch(settings.contact_phone):
        problems.append("PORTAL_CONTACT_PHONE must be a phone number (digits, spaces, a leading +)")
    for who, provider in (("CITIZEN", settings.citizen_oidc), ("STAFF", settings.staff_oidc)):
        if "openid" not in provider.scope.split():
            problems.append(f"PORTAL_{who}_OIDC_SCOPE must include openid")
        for claim in ("cpr_claim", "role_claim", "unit_claim"):
            value = getattr(provider, claim)
            if not value or value != value.strip():
                problems.append(f"PORTAL_{who}_OIDC_{claim.upper()} must be a claim name")
    return problems


# --- validation: keys weak by content (production) ------------------------------------------


def _weakness(value: str | bytes) -> str | None:
    """Why a key is weak by its content, or None: few different symbols, a long run of one
    symbol, a repeated pattern."""
    distinct = MIN_DISTINCT_KEY_BYTES if isinstance(value, bytes) else MIN_DISTINCT_CHARACTERS
    if len(set(value)) < distinct:
        return f"has fewer than {distinct} different characters"
    if max(len(list(run)) for _, run in itertools.groupby(value)) >= MAX_RUN:
        return f"repeats one character {MAX_RUN} times or more"
    for period in range(1, len(value) // 2 + 1):
        if all(value[i] == value[i % period] for i in range(len(value))):
            return "is a repeated pattern"
    return None


def _text_key_problems(name: str, value: str, minimum: int = MIN_SECRET_LENGTH) -> list[str]:
    if len(value) < minimum or value in _KNOWN_WEAK or value.lower() in _KNOWN_WEAK:
        return [f"{name} is missing or weak (at least {minimum} chars)"]
    if any(c.isspace() for c in value):
        return [f"{name} contains whitespace (a copy-paste error?)"]
    weakness = _weakness(value)
    return [f"{name} is weak: it {weakness}"] if weakness else []


def _text_keys(settings: Any) -> dict[str, str]:
    """The secrets that are text (HMAC and signing keys), by variable name."""
    return {
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_LOOKUP_KEY": settings.lookup_key,
        "PORTAL_AUDIT_CHECKPOINT_KEY": settings.audit_checkpoint_key,
    }


def _equal_key_problems(settings: Any) -> list[str]:
    """Two different purposes must never share a key (a leak of one would be a leak of
    both; the lookup key equal to the secret key lets a session forger find citizens)."""
    keys = _text_keys(settings)
    for position, entry in enumerate(_key_entries(settings.encryption_key)):
        keys[f"PORTAL_ENCRYPTION_KEY entry {position}"] = entry
    for who, provider in (("CITIZEN", settings.citizen_oidc), ("STAFF", settings.staff_oidc)):
        keys[f"PORTAL_{who}_OIDC_CLIENT_SECRET"] = provider.client_secret
    return [
        f"{a} and {b} must be different keys"
        for (a, x), (b, y) in itertools.combinations(keys.items(), 2)
        if x and x == y
    ]


_LOA_LEVELS = ("low", "substantial", "high")
_NSIS_LOA_PREFIX = "https://data.gov.dk/concept/core/nsis/loa/"


def loa_rank(value: str | None) -> int:
    """Position of an NSIS assurance level (low < substantial < high); -1 when unknown."""
    if not value:
        return -1
    name = value.removeprefix(_NSIS_LOA_PREFIX).strip().lower()
    return _LOA_LEVELS.index(name) if name in _LOA_LEVELS else -1


def _auth_problems(settings: Any) -> list[str]:
    """Login and session settings that would make the portal unsafe (portal/auth)."""
    problems: list[str] = []
    exact = (*_LOA_LEVELS, *(_NSIS_LOA_PREFIX + level for level in _LOA_LEVELS))
    if settings.citizen_min_acr not in exact:
        problems.append(
            "PORTAL_CITIZEN_MIN_ACR must be one of low, substantial, high"
            f" (exactly; got {settings.citizen_min_acr!r})"
        )
    if settings.session_idle_minutes < 1 or settings.session_absolute_hours < 1:
        problems.append("session timeouts must be at least one minute and one hour")
    if not settings.production:
        return problems
    substantial = _LOA_LEVELS.index("substantial")
    if 0 <= loa_rank(settings.citizen_min_acr) < substantial:
        problems.append("PORTAL_CITIZEN_MIN_ACR must be at least substantial in production")
    if any(loa_rank(v) < substantial for v in settings.citizen_oidc.acr_values):
        problems.append("PORTAL_CITIZEN_OIDC_ACR_VALUES must not ask for less than substantial")
    for name, provider in (("CITIZEN", settings.citizen_oidc), ("STAFF", settings.staff_oidc)):
        if not provider.enabled:
            continue
        if not provider.issuer.startswith("https://"):
            problems.append(f"PORTAL_{name}_OIDC_ISSUER must be https:// in production")
        problems.extend(
            _text_key_problems(f"PORTAL_{name}_OIDC_CLIENT_SECRET", provider.client_secret, 16)
        )
    if settings.session_idle_minutes > 60:
        problems.append("PORTAL_SESSION_IDLE_MINUTES must be at most 60 in production")
    if settings.session_absolute_hours > 12:
        problems.append("PORTAL_SESSION_ABSOLUTE_HOURS must be at most 12 in production")
    return problems


def _key_entries(keys: str) -> list[str]:
    return [k.strip() for k in keys.split(",") if k.strip()]


def _encryption_key_problems(keys: str, production: bool) -> list[str]:
    entries = _key_entries(keys)
    if not entries:
        return ["PORTAL_ENCRYPTION_KEY is missing"]
    problems = []
    for position, entry in enumerate(entries):
        name = f"PORTAL_ENCRYPTION_KEY entry {position}"
        # strict: a character outside the urlsafe alphabet is an error, not skipped
        raw = base64.urlsafe_b64decode(entry) if _AES_KEY.fullmatch(entry) else b""
        if len(raw) != 32:
            problems.append(f"{name} is not 32 bytes of base64")
        elif production and entry in _KNOWN_WEAK:
            problems.append(f"{name} is a development key")
        elif production and (weakness := _weakness(raw)):
            problems.append(f"{name} is weak: it {weakness} (e.g. all zero)")
    if len(set(entries)) != len(entries):
        problems.append("PORTAL_ENCRYPTION_KEY names the same key twice")
    return problems
