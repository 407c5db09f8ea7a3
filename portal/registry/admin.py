"""Administering machine clients and model versions (CLI and signed API).

Systems: create (a ``whsec_`` secret is shown once), rotate the secret (the old one stays
valid until a given moment), disable, grant and revoke the use of a model registered by
another system. Model versions: register (validated against the artifact by
``explainers``; immutable; owned by the registering system), activate, retire. Every change
writes an audit event.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.canonical import all_text, canonical_json, lone_surrogates
from portal.db import utcnow
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.oversight.audit import Actor, record_event
from portal.registry.models import (
    ModelArtifact,
    ModelGrant,
    ModelVersion,
    System,
    WebhookSecret,
)

ADMIN_CLI = Actor(kind="admin", ref="cli", role="admin")
DEFAULT_OLD_SECRET_DAYS = 7
_SECRET_BYTES = 32


class SystemExists(Conflict):
    code = "system-exists"
    message = "A system with this name already exists."


class ModelVersionConflict(Conflict):
    code = "model-version-exists"
    message = (
        "This model name and version is already registered with different content; "
        "versions are immutable, register a new version."
    )


class ModelStatusConflict(Conflict):
    code = "model-status-conflict"
    message = "The model version cannot change to that status."


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def get_system(session: Session, name: str) -> System:
    system = session.scalar(select(System).where(System.name == name))
    if system is None:
        raise NotFound(f"No system named {name!r}.")
    return system


def create_system(
    session: Session, name: str, unit: str, *, actor: Actor = ADMIN_CLI
) -> tuple[System, str]:
    """Create a system and its first secret; returns the plain secret (shown only once)."""
    if session.scalar(select(System.id).where(System.name == name)) is not None:
        raise SystemExists()
    system = System(name=name, responsible_unit=unit, status="active")
    session.add(system)
    session.flush()
    secret = new_secret()
    session.add(WebhookSecret(system_id=system.id, secret=secret, fingerprint=fingerprint(secret)))
    record_event(
        session,
        actor,
        "system.created",
        purpose="administration",
        details={"system": name, "unit": unit, "secret": fingerprint(secret)},
    )
    session.flush()
    return system, secret


def rotate_secret(
    session: Session,
    name: str,
    *,
    old_valid_until: dt.datetime | None = None,
    now: dt.datetime | None = None,
    actor: Actor = ADMIN_CLI,
) -> str:
    """Add a new secret; the currently valid ones stay valid until ``old_valid_until``
    (default: 7 days from now). Returns the new plain secret."""
    now = now or utcnow()
    until = old_valid_until or now + dt.timedelta(days=DEFAULT_OLD_SECRET_DAYS)
    if until.tzinfo is None:
        raise ValueError("old_valid_until must be timezone aware")
    system = get_system(session, name)
    current = session.scalars(
        select(WebhookSecret).where(
            WebhookSecret.system_id == system.id,
            or_(WebhookSecret.valid_until.is_(None), WebhookSecret.valid_until > now),
        )
    ).all()
    for old in current:
        if old.valid_until is None or old.valid_until > until:
            old.valid_until = until
    secret = new_secret()
    session.add(WebhookSecret(system_id=system.id, secret=secret, fingerprint=fingerprint(secret)))
    record_event(
        session,
        actor,
        "system.secret-rotated",
        purpose="administration",
        details={
            "system": name,
            "secret": fingerprint(secret),
            "old_valid_until": until.isoformat(),
        },
    )
    session.flush()
    return secret


def disable_system(session: Session, name: str, *, actor: Actor = ADMIN_CLI) -> System:
    """Stop accepting requests from a system (its stored decisions stay)."""
    system = get_system(session, name)
    if system.status != "disabled":
        system.status = "disabled"
        system.disabled_at = utcnow()
        record_event(
            session,
            actor,
            "system.disabled",
            purpose="administration",
            details={"system": name},
        )
        session.flush()
    return system


# --- model versions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """Outcome of registering a model version: ``created`` is False for an identical repeat."""

    model: ModelVersion
    created: bool


def problem_details(problems: Any) -> list[dict[str, Any]]:
    """``explainers.Problem`` list -> API error details ``[{field, code, message}]``."""
    return [{"field": p.path, "code": p.code, "message": p.message} for p in problems]


def register_model(
    session: Session,
    manifest: Any,
    artifact: bytes,
    background: bytes | None = None,
    *,
    system: System,
    actor: Actor = ADMIN_CLI,
) -> Registration:
    """Validate a manifest against its artifact (and background) and store the version,
    owned by ``system``: it may post decisions to it, activate and retire it.

    Every problem is reported at once (422) and nothing is stored. A name+version that
    exists with the same manifest and bytes is an idempotent repeat; with anything different
    it is a 409, since a registered version never changes.
    """
    from explainers import ModelBundle, estimate_cost, validate_bundle

    if not isinstance(manifest, dict):
        raise ValidationFailed(
            details=[
                {
                    "field": "manifest",
                    "code": "not-an-object",
                    "message": "manifest must be a JSON object",
                }
            ]
        )
    not_text = [
        {
            "field": where,
            "code": "invalid-text",
            "message": "the text holds a lone UTF-16 surrogate, which is not a character",
        }
        for where in ([] if all_text(manifest) else lone_surrogates(manifest))
    ]
    if not_text:  # nothing that is not text is validated, compared or stored
        raise ValidationFailed(details=not_text)
    problems = validate_bundle(artifact, manifest, background)
    if problems:
        raise ValidationFailed(details=problem_details(problems))
    artifact_sha = hashlib.sha256(artifact).hexdigest()
    background_sha = None if background is None else hashlib.sha256(background).hexdigest()
    existing = session.scalar(
        select(ModelVersion).where(
            ModelVersion.name == manifest["name"], ModelVersion.version == manifest["version"]
        )
    )
    if existing is not None:
        same = (
            existing.artifact_sha256 == artifact_sha
            and existing.background_sha256 == background_sha
            and canonical_json(existing.manifest) == canonical_json(manifest)
        )
        if not same:
            raise ModelVersionConflict()
        return Registration(existing, created=False)

    bundle = ModelBundle.from_bytes(artifact, manifest, background)
    cost = estimate_cost(bundle.model)
    warnings: list[dict[str, Any]] = []
    if cost.high:
        warnings.append({"code": "high-explanation-cost", "detail": cost.to_dict()})
    model = ModelVersion(
        name=manifest["name"],
        version=manifest["version"],
        status="registered",
        manifest=manifest,
        responsible_unit=manifest["responsible_unit"],
        artifact_sha256=artifact_sha,
        background_sha256=background_sha,
        explainer_kind=bundle.info.family,
        warnings=warnings,
        registered_by_system_id=system.id,
        files=ModelArtifact(artifact=artifact, background=background),
    )
    session.add(model)
    session.flush()
    record_event(
        session,
        actor,
        "model.registered",
        purpose="administration",
        details={
            "model": model.name,
            "version": model.version,
            "artifact_sha256": artifact_sha,
            "system": system.name,
            "cost": cost.to_dict(),
        },
    )
    return Registration(model, created=True)


def get_model_version(session: Session, name: str, version: str) -> ModelVersion:
    model = session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    )
    if model is None:
        raise NotFound(f"No model version {name} {version}.")
    return model


def activate_model(
    session: Session, name: str, version: str, *, actor: Actor = ADMIN_CLI
) -> ModelVersion:
    """Let decisions name this version (registered -> active; active stays active)."""
    model = get_model_version(session, name, version)
    if model.status not in ("registered", "active"):
        raise ModelStatusConflict(f"A {model.status} version cannot be activated.")
    return _move_to(session, model, "active", actor)


def retire_model(
    session: Session, name: str, version: str, *, actor: Actor = ADMIN_CLI
) -> ModelVersion:
    """Stop accepting decisions naming this version; its record stays public."""
    return _move_to(session, get_model_version(session, name, version), "retired", actor)


# status -> (audit action, time-stamp column)
_STATUS_EVENTS = {
    "active": ("model.activated", "activated_at"),
    "retired": ("model.retired", "retired_at"),
}


def _move_to(session: Session, model: ModelVersion, status: str, actor: Actor) -> ModelVersion:
    """Give ``model`` the status, with its time stamp and an audit event; a no-op when it
    has that status already (repeating a command is harmless)."""
    if model.status == status:
        return model
    action, stamp = _STATUS_EVENTS[status]
    model.status = status
    setattr(model, stamp, utcnow())
    record_event(
        session,
        actor,
        action,
        purpose="administration",
        details={"model": model.name, "version": model.version},
    )
    session.flush()
    return model


# --- grants: a system posting to a model another system registered --------------------------


def _grant_query(system: System, name: str, version: str | None) -> Any:
    return select(ModelGrant).where(
        ModelGrant.system_id == system.id,
        ModelGrant.model_name == name,
        ModelGrant.model_version.is_(None)
        if version is None
        else ModelGrant.model_version == version,
    )


def _grant_changed(
    session: Session, actor: Actor, action: str, grant: ModelGrant, system: System
) -> None:
    details = {"system": system.name, "model": grant.model_name, "version": grant.model_version}
    record_event(session, actor, action, purpose="administration", details=details)
    session.flush()


def grant_model(
    session: Session,
    system_name: str,
    name: str,
    version: str | None = None,
    *,
    actor: Actor = ADMIN_CLI,
) -> ModelGrant:
    """Let a system post decisions to a model: one version, or (``version`` None) every
    version, present and future. The model (version) must exist; granting again is a
    no-op."""
    system = get_system(session, system_name)
    if version is None:
        any_version = select(ModelVersion.id).where(ModelVersion.name == name).limit(1)
        if session.scalar(any_version) is None:
            raise NotFound(f"No model named {name}.")
    else:
        get_model_version(session, name, version)
    grant = session.scalar(_grant_query(system, name, version))
    if grant is not None:
        return grant
    grant = ModelGrant(system_id=system.id, model_name=name, model_version=version)
    session.add(grant)
    _grant_changed(session, actor, "system.model-granted", grant, system)
    return grant


def revoke_model(
    session: Session,
    system_name: str,
    name: str,
    version: str | None = None,
    *,
    actor: Actor = ADMIN_CLI,
) -> None:
    """Remove exactly the grant ``grant_model`` gave with these arguments (a grant of every
    version is not narrowed by revoking one); NotFound when there is none. Decisions already
    stored stay."""
    system = get_system(session, system_name)
    grant = session.scalar(_grant_query(system, name, version))
    if grant is None:
        raise NotFound(f"System {system_name!r} has no such grant.")
    session.delete(grant)
    _grant_changed(session, actor, "system.model-revoked", grant, system)
