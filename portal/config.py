"""Typed configuration.

Defaults live here; secrets and deployment choices come from ``PORTAL_*`` environment
variables; tests and tools pass ``overrides``. Nothing is read at import time.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

Environment = Literal["development", "production", "test"]
WorkerMode = Literal["inprocess", "celery", "off"]
SessionBackend = Literal["database", "redis"]

# The exact values each enum-like setting accepts (no case folding, no trimming).
_LITERALS: dict[str, tuple[str, ...]] = {
    "Environment": get_args(Environment),
    "WorkerMode": get_args(WorkerMode),
    "SessionBackend": get_args(SessionBackend),
}

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
MIN_SECRET_LENGTH = 32
# Development and demo placeholders; validate() refuses them in production.
_DEV_SECRET = "dev-secret-key-not-for-production-0123456789"  # noqa: S105
_DEV_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"dev-encryption-key-not-for-prod!").decode()
_DEV_LOOKUP_KEY = "dev-lookup-key-not-for-production-0123456789"
_DEV_AUDIT_CHECKPOINT_KEY = "dev-audit-checkpoint-key-not-for-production-0123"
_KNOWN_WEAK = {
    _DEV_SECRET,
    _DEV_ENCRYPTION_KEY,
    _DEV_LOOKUP_KEY,
    _DEV_AUDIT_CHECKPOINT_KEY,
    "changeme",
    "secret",
}
# A key is weak by content (production): fewer different characters than this, a run of
# one character this long, or a repeated pattern. A random 32-byte key written in hex or
# base64 passes all three with overwhelming probability.
MIN_DISTINCT_CHARACTERS = 10
MAX_RUN = 8
MIN_DISTINCT_KEY_BYTES = 16


class ConfigError(RuntimeError):
    """The configuration is unsafe or inconsistent; the app refuses to start."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class OIDCProvider:
    """One OpenID Connect provider (citizen login through NemLog-in/MitID, or staff IdP)."""

    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = "openid"
    # Minimum assurance level; the citizen provider must deliver at least "substantial".
    acr_values: tuple[str, ...] = ()
    cpr_claim: str = "https://data.gov.dk/model/core/eid/cprNumber"
    role_claim: str = "roles"
    unit_claim: str = "unit"

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)


#: Audit events are kept at least this long (six months); retention prunes them after.
MIN_AUDIT_RETENTION_DAYS = 183


@dataclass(frozen=True)
class Settings:
    """Everything the portal can be configured with. ``PORTAL_<NAME>`` sets ``<name>``."""

    env: Environment = "development"
    demo: bool = False
    secret_key: str = ""
    # Comma-separated AES-256-GCM keys, urlsafe base64 of 32 bytes; the first encrypts,
    # all decrypt (key rotation: prepend the new key, run `flask keys rotate`).
    encryption_key: str = ""
    # HMAC key for the CPR lookup key. Never rotated casually: rotating it re-keys citizens.
    lookup_key: str = ""
    database_url: str = ""
    municipality: str = "Københavns Kommune"
    solution_name: str = "Forklaring af afgørelser"
    contact_email: str = "forklaring@kk.dk"
    base_url: str = "http://127.0.0.1:5000"
    # Reverse proxies in front of gunicorn (the TLS proxy) whose X-Forwarded-For, -Proto and
    # -Host headers are believed; 0 believes none. Behind one proxy without it, every client
    # has the proxy's address, and so shares one rate limit.
    trusted_proxies: int = 0
    worker: WorkerMode = "inprocess"
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    session_backend: SessionBackend = "database"
    redis_url: str = "redis://127.0.0.1:6379/1"
    # memory:// counts per process (each gunicorn worker has its own counts); redis:// shares.
    ratelimit_storage_uri: str = "memory://"
    ratelimit_default: str = "300 per minute"
    session_idle_minutes: int = 30
    session_absolute_hours: int = 8
    webhook_tolerance_seconds: int = 300
    max_webhook_bytes: int = 256 * 1024
    max_batch_bytes: int = 16 * 1024 * 1024
    max_batch_items: int = 1000
    max_upload_bytes: int = 64 * 1024 * 1024
    explanation_job_attempts: int = 5
    # Audit events older than this are pruned (up to a signed checkpoint) by
    # `flask retention prune-audit`; at least MIN_AUDIT_RETENTION_DAYS.
    audit_retention_days: int = 400
    # HMAC key that signs the audit chain's checkpoints. It must not be stored in the
    # database (whoever can rewrite the database must not be able to sign a checkpoint).
    audit_checkpoint_key: str = ""
    # The sealer (in the worker) chains new audit events this often (seconds).
    audit_seal_seconds: int = 1
    # The worker deletes expired personal data this often (seconds; docs/retention.md).
    retention_interval_seconds: int = 3600
    # The public register's live figures are recounted at most this often per process
    # (seconds; 0: on every view). docs/register.md
    register_figures_seconds: int = 60
    citizen_oidc: OIDCProvider = field(default_factory=OIDCProvider)
    staff_oidc: OIDCProvider = field(default_factory=OIDCProvider)
    # --- login and sessions (portal/auth) ---
    session_redis_prefix: str = "portal:session:"
    # The lowest assurance level (NSIS LoA: low < substantial < high) a citizen login may have.
    citizen_min_acr: str = "substantial"
    # Clock skew allowed when checking an ID token's exp and iat.
    oidc_leeway_seconds: int = 60
    oidc_timeout_seconds: int = 10
    # --- machine API and explanation jobs (portal/api, portal/decisions) ---
    # Rate limit of the signed machine API (its own, not the page default).
    api_ratelimit: str = "6000 per minute"
    # Per client address: API requests whose signature is refused (401); past it every API
    # request from that address gets 429 before any signature work, until the window ends.
    api_signature_failure_ratelimit: str = "60 per minute"
    # Per client address, on every login route (guessing, callback replay floods).
    login_ratelimit: str = "30 per minute"
    # Per client address, on the citizen's request forms (review, wrong data) when posted.
    request_form_ratelimit: str = "20 per hour"
    # --- letter attachments (portal/letters) ---
    # Per client address, on the public verification pages (/bekraeft: codes and uploads).
    verify_ratelimit: str = "30 per minute"
    # The largest PDF the public may upload to /bekraeft (an attachment is ~100-300 kB).
    verify_max_upload_bytes: int = 5 * 1024 * 1024
    # Days within which the municipality answers a citizen's request for review or for
    # correcting data; shown on the confirmation and the case page (GDPR art. 12(3): one
    # month, so at most 30 here unless the deadline is extended in the answer).
    request_response_days: int = 30
    # Working days within which feedback on accessibility is answered (the accessibility
    # statement; after 10 working days without an answer a citizen may turn to
    # Digitaliseringsstyrelsen), and the phone number the statement gives besides the email.
    accessibility_response_workdays: int = 10
    contact_phone: str = ""
    # In-process worker: idle polling interval and the most jobs claimed at once. A claim's
    # explanations are computed in one vectorised call and stored in one transaction: on
    # SQLite 128 hold the write lock ~15-25 ms (ingest requests wait for it); 256 were
    # ~15 % faster end to end but held it ~40 ms, 32 were half as fast.
    worker_poll_ms: int = 500
    worker_batch_size: int = 128
    # A claimed job is another worker's again if not finished within the lease.
    job_lease_seconds: int = 300
    # Retry back-off: base * 2^(attempt-1) seconds, capped at one hour.
    job_backoff_seconds: int = 2
    # Celery: the sweeper re-sends a pending job whose last dispatch is older than this.
    job_redispatch_seconds: int = 60
    # Compute a counterfactual ("what could have changed the result") with each explanation.
    explanation_counterfactuals: bool = True
    # --- personal PDFs (portal/cases/exports.py) ---
    # A "Mine data" PDF of more decisions than this is built by the worker (about 0.1 s a
    # decision to render), not during the request; the citizen downloads it when ready.
    pdf_worker_decisions: int = 20
    # Hours a PDF built by the worker can be downloaded; then it is deleted.
    pdf_export_hours: int = 24

    # --- supervision dashboards (portal/supervision) ---
    # The worker adds new decisions to the dashboards' aggregates this often (seconds), and
    # verifies the audit chain (as `audit verify`) for the dashboard this often.
    supervision_aggregate_seconds: int = 60
    supervision_verify_seconds: int = 3600
    # A group with fewer decisions is shown with a warning and not judged (fairness, drift).
    supervision_min_group_size: int = 30

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def testing(self) -> bool:
        return self.env == "test"

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Build settings: defaults, then ``PORTAL_*`` variables, then ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in dataclasses.fields(cls):
            if f.name in ("citizen_oidc", "staff_oidc"):
                prefix = f.name.split("_")[0].upper()
                values[f.name] = _provider_from_env(environ, prefix, problems)
                continue
            name = f"PORTAL_{f.name.upper()}"
            raw = environ.get(name)
            if raw is not None:
                values[f.name] = _coerce(name, f.type, raw, problems)
        if problems:  # before any default: a misspelt PORTAL_ENV must not run as development
            raise ConfigError(problems)
        values.update(overrides or {})
        settings = cls(**values)
        if settings.env not in _LITERALS["Environment"]:
            raise ConfigError([_not_one_of("PORTAL_ENV", settings.env, "Environment")])
        return settings.with_development_defaults()

    def with_development_defaults(self) -> Settings:
        """Fill in obvious local defaults outside production, so `make demo` just works."""
        if self.production:
            return self
        return dataclasses.replace(
            self,
            secret_key=self.secret_key or _DEV_SECRET,
            encryption_key=self.encryption_key or _DEV_ENCRYPTION_KEY,
            lookup_key=self.lookup_key or _DEV_LOOKUP_KEY,
            audit_checkpoint_key=self.audit_checkpoint_key or _DEV_AUDIT_CHECKPOINT_KEY,
            database_url=self.database_url or f"sqlite:///{INSTANCE_DIR / 'portal.db'}",
        )

    def validate(self) -> None:
        """Refuse to start with unsafe or impossible settings: a value of the wrong type,
        out of range or not exactly one of its choices, a URL or rate limit that does not
        parse, missing or weak keys in production, demo login in production."""
        problems = _type_problems(self)
        if problems:  # ranges and keys would only repeat the same mistakes
            raise ConfigError(problems)
        if self.production:
            if self.demo:
                problems.append("PORTAL_DEMO must be off in production")
            for name, value in _text_keys(self).items():
                problems.extend(_text_key_problems(name, value))
            if not self.database_url:
                problems.append("PORTAL_DATABASE_URL is missing")
            if not self.base_url.startswith("https://"):
                problems.append("PORTAL_BASE_URL must be https:// in production")
            problems.extend(_equal_key_problems(self))
        problems.extend(_range_problems(self))
        problems.extend(_url_problems(self))
        problems.extend(_ratelimit_problems(self))
        problems.extend(_text_problems(self))
        if self.verify_max_upload_bytes > self.max_upload_bytes:
            problems.append(
                "PORTAL_VERIFY_MAX_UPLOAD_BYTES must not exceed PORTAL_MAX_UPLOAD_BYTES"
            )
        problems.extend(_encryption_key_problems(self.encryption_key, self.production))
        problems.extend(_auth_problems(self))
        if problems:
            raise ConfigError(problems)


# --- validation: types, ranges, URLs, rate limits -------------------------------------------

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
_INTEGER = re.compile(r"-?[0-9]+")
_AES_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")  # urlsafe base64 of exactly 32 bytes
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _not_one_of(name: str, value: object, literal: str) -> str:
    choices = ", ".join(_LITERALS[literal])
    return f"{name} must be exactly one of {choices} (got {value!r})"


def _value_problem(name: str, annotation: str, value: object) -> str | None:
    """Why ``value`` is not of the setting's declared type, or None."""
    if annotation in _LITERALS:
        return None if value in _LITERALS[annotation] else _not_one_of(name, value, annotation)
    expected: dict[str, type] = {"str": str, "int": int, "bool": bool, "OIDCProvider": OIDCProvider}
    if annotation.startswith("tuple"):
        ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
        return None if ok else f"{name} must be a list of words (got {value!r})"
    kind = expected.get(annotation)
    if kind is None:
        return f"{name} has a type the validation does not know ({annotation})"
    if isinstance(value, bool) and kind is not bool:  # bool is an int to Python
        return f"{name} must be {annotation} (got {value!r})"
    return None if isinstance(value, kind) else f"{name} must be {annotation} (got {value!r})"


def _type_problems(settings: Settings) -> list[str]:
    problems = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        problem = _value_problem(f"PORTAL_{f.name.upper()}", str(f.type), value)
        if problem:
            problems.append(problem)
        elif isinstance(value, OIDCProvider):
            prefix = f"PORTAL_{f.name.split('_')[0].upper()}_OIDC"
            for g in dataclasses.fields(value):
                problem = _value_problem(
                    f"{prefix}_{g.name.upper()}", str(g.type), getattr(value, g.name)
                )
                if problem:
                    problems.append(problem)
    return problems


def _range_problems(settings: Settings) -> list[str]:
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


def _url_problems(settings: Settings) -> list[str]:
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


def _ratelimit_problems(settings: Settings) -> list[str]:
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


def _text_problems(settings: Settings) -> list[str]:
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


def _text_keys(settings: Settings) -> dict[str, str]:
    """The secrets that are text (HMAC and signing keys), by variable name."""
    return {
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_LOOKUP_KEY": settings.lookup_key,
        "PORTAL_AUDIT_CHECKPOINT_KEY": settings.audit_checkpoint_key,
    }


def _equal_key_problems(settings: Settings) -> list[str]:
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


def _auth_problems(settings: Settings) -> list[str]:
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


def _provider_from_env(
    environ: Mapping[str, str], prefix: str, problems: list[str]
) -> OIDCProvider:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(OIDCProvider):
        name = f"PORTAL_{prefix}_OIDC_{f.name.upper()}"
        raw = environ.get(name)
        if raw is not None:
            values[f.name] = _coerce(name, f.type, raw, problems)
    return OIDCProvider(**values)


def _coerce(name: str, annotation: Any, raw: str, problems: list[str]) -> Any:
    """The value of variable ``name`` as its setting's type; a text that is not exactly a
    value of that type adds a problem (no trimming, no case folding of choices)."""
    text = str(annotation)
    if text in _LITERALS:
        if raw not in _LITERALS[text]:
            problems.append(_not_one_of(name, raw, text))
        return raw
    if text == "bool":
        if raw.lower() not in (*_TRUE, *_FALSE):
            problems.append(f"{name} must be one of {', '.join(_TRUE + _FALSE)} (got {raw!r})")
        return raw.lower() in _TRUE
    if text == "int":
        if not _INTEGER.fullmatch(raw):
            problems.append(f"{name} must be a whole number (got {raw!r})")
            return 0
        return int(raw)
    if text.startswith("tuple"):
        return tuple(part for part in raw.replace(",", " ").split() if part)
    return raw


def prepare_instance_dir(database_url: str, instance_dir: Path | None = None) -> Path | None:
    """Create the folder of a SQLite database file that lies in ``instance/`` (the embedded
    default) and return it; any other database, or a SQLite file elsewhere, leaves the tree
    untouched (a path outside ``instance/`` is the operator's to create)."""
    from sqlalchemy.engine import make_url

    instance = (instance_dir or INSTANCE_DIR).resolve()
    url = make_url(database_url)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a SQLite URI filename: file:path?mode=...
        database = database.removeprefix("file:").partition("?")[0]
    folder = Path(database).resolve().parent
    if not folder.is_relative_to(instance):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return folder
