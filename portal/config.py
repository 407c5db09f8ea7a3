"""Typed configuration.

Defaults live here; secrets and deployment choices come from ``PORTAL_*`` environment
variables; tests and tools pass ``overrides``. Nothing is read at import time.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Environment = Literal["development", "production", "test"]
WorkerMode = Literal["inprocess", "celery", "off"]
SessionBackend = Literal["database", "redis"]

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
    ratelimit_storage_uri: str = "portal-memory://"
    ratelimit_default: str = "300 per minute"
    session_idle_minutes: int = 30
    session_absolute_hours: int = 8
    webhook_tolerance_seconds: int = 300
    max_webhook_bytes: int = 256 * 1024
    max_batch_bytes: int = 16 * 1024 * 1024
    max_batch_items: int = 1000
    max_upload_bytes: int = 64 * 1024 * 1024
    explanation_job_attempts: int = 5
    audit_retention_days: int = 400
    # HMAC key that signs the audit chain's checkpoints. It must not be stored in the
    # database (whoever can rewrite the database must not be able to sign a checkpoint).
    audit_checkpoint_key: str = ""
    # The sealer (in the worker) chains new audit events this often (seconds).
    audit_seal_seconds: int = 1
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
    # Per client address, on every login route (guessing, callback replay floods).
    login_ratelimit: str = "30 per minute"
    # Per client address, on the citizen's request forms (review, wrong data) when posted.
    request_form_ratelimit: str = "20 per hour"
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
        for f in dataclasses.fields(cls):
            if f.name in ("citizen_oidc", "staff_oidc"):
                values[f.name] = _provider_from_env(environ, f.name.split("_")[0].upper())
                continue
            raw = environ.get(f"PORTAL_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _coerce(f.type, raw)
        values.update(overrides or {})
        settings = cls(**values)
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
        """Refuse to start with unsafe settings (missing or weak keys, demo in production)."""
        problems: list[str] = []
        if self.production:
            if self.demo:
                problems.append("PORTAL_DEMO must be off in production")
            if len(self.secret_key) < MIN_SECRET_LENGTH or self.secret_key in _KNOWN_WEAK:
                problems.append(
                    f"PORTAL_SECRET_KEY is missing or weak (at least {MIN_SECRET_LENGTH} chars)"
                )
            if len(self.lookup_key) < MIN_SECRET_LENGTH or self.lookup_key in _KNOWN_WEAK:
                problems.append(
                    f"PORTAL_LOOKUP_KEY is missing or weak (at least {MIN_SECRET_LENGTH} chars)"
                )
            key = self.audit_checkpoint_key
            if len(key) < MIN_SECRET_LENGTH or key in _KNOWN_WEAK:
                problems.append(
                    "PORTAL_AUDIT_CHECKPOINT_KEY is missing or weak"
                    f" (at least {MIN_SECRET_LENGTH} chars)"
                )
            if not self.database_url:
                problems.append("PORTAL_DATABASE_URL is missing")
            if not self.base_url.startswith("https://"):
                problems.append("PORTAL_BASE_URL must be https:// in production")
        if self.trusted_proxies < 0:
            problems.append("PORTAL_TRUSTED_PROXIES must be 0 or more")
        if not 1 <= self.request_response_days <= 30:
            problems.append("PORTAL_REQUEST_RESPONSE_DAYS must be between 1 and 30")
        if not 1 <= self.accessibility_response_workdays <= 10:
            problems.append("PORTAL_ACCESSIBILITY_RESPONSE_WORKDAYS must be between 1 and 10")
        if self.supervision_aggregate_seconds < 1 or self.supervision_verify_seconds < 1:
            problems.append(
                "PORTAL_SUPERVISION_AGGREGATE_SECONDS and _VERIFY_SECONDS must be at least 1"
            )
        if self.supervision_min_group_size < 1:
            problems.append("PORTAL_SUPERVISION_MIN_GROUP_SIZE must be at least 1")
        problems.extend(_encryption_key_problems(self.encryption_key, self.production))
        problems.extend(_auth_problems(self))
        if problems:
            raise ConfigError(problems)


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
    if loa_rank(settings.citizen_min_acr) < 0:
        problems.append("PORTAL_CITIZEN_MIN_ACR must be one of low, substantial, high")
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
        if len(provider.client_secret) < 16:
            problems.append(f"PORTAL_{name}_OIDC_CLIENT_SECRET is missing or weak")
    if settings.session_idle_minutes > 60:
        problems.append("PORTAL_SESSION_IDLE_MINUTES must be at most 60 in production")
    if settings.session_absolute_hours > 12:
        problems.append("PORTAL_SESSION_ABSOLUTE_HOURS must be at most 12 in production")
    if not 0 <= settings.oidc_leeway_seconds <= 300:
        problems.append("PORTAL_OIDC_LEEWAY_SECONDS must be between 0 and 300")
    return problems


def _encryption_key_problems(keys: str, production: bool) -> list[str]:
    entries = [k.strip() for k in keys.split(",") if k.strip()]
    if not entries:
        return ["PORTAL_ENCRYPTION_KEY is missing"]
    problems = []
    for position, entry in enumerate(entries):
        try:
            raw = base64.urlsafe_b64decode(entry.encode())
        except ValueError:
            raw = b""
        if len(raw) != 32:
            problems.append(f"PORTAL_ENCRYPTION_KEY entry {position} is not 32 bytes of base64")
        elif production and entry in _KNOWN_WEAK:
            problems.append(f"PORTAL_ENCRYPTION_KEY entry {position} is a development key")
    return problems


def _provider_from_env(environ: Mapping[str, str], prefix: str) -> OIDCProvider:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(OIDCProvider):
        raw = environ.get(f"PORTAL_{prefix}_OIDC_{f.name.upper()}")
        if raw is not None:
            values[f.name] = _coerce(f.type, raw)
    return OIDCProvider(**values)


def _coerce(annotation: Any, raw: str) -> Any:
    text = str(annotation)
    if text == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if text == "int":
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
