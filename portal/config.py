"""Typed configuration.

Defaults live here; secrets and deployment choices come from ``PORTAL_*`` environment
variables; tests and tools pass ``overrides``. Nothing is read at import time.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from portal.config_checks import (
    DEV_AUDIT_CHECKPOINT_KEY,
    DEV_ENCRYPTION_KEY,
    DEV_LOOKUP_KEY,
    DEV_SECRET,
    setting_problems,
)

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
    # `flask retention prune-audit`; at least MIN_AUDIT_RETENTION_DAYS (portal/config_checks.py).
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
            secret_key=self.secret_key or DEV_SECRET,
            encryption_key=self.encryption_key or DEV_ENCRYPTION_KEY,
            lookup_key=self.lookup_key or DEV_LOOKUP_KEY,
            audit_checkpoint_key=self.audit_checkpoint_key or DEV_AUDIT_CHECKPOINT_KEY,
            database_url=self.database_url or f"sqlite:///{INSTANCE_DIR / 'portal.db'}",
        )

    def validate(self) -> None:
        """Refuse to start with unsafe or impossible settings: a value of the wrong type,
        out of range or not exactly one of its choices, a URL or rate limit that does not
        parse, missing or weak keys in production, demo login in production."""
        problems = _type_problems(self)
        if problems:  # ranges and keys would only repeat the same mistakes
            raise ConfigError(problems)
        problems = setting_problems(self)
        if problems:
            raise ConfigError(problems)


# --- validation: types (the other checks are in portal/config_checks.py) ---------------

_INTEGER = re.compile(r"-?[0-9]+")
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
