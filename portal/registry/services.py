"""Reading the model registry for the public algorithm register."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import NotFound
from portal.registry.models import ModelVersion

PUBLIC_STATUSES = ("active", "retired")


def public_models(session: Session) -> Sequence[ModelVersion]:
    """Every model version the public may read about: active first, then retired."""
    rows = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.status.in_(PUBLIC_STATUSES))
        .order_by(ModelVersion.name, ModelVersion.registered_at.desc())
    ).all()
    return sorted(rows, key=lambda m: (m.status != "active", m.name))


def model_versions(session: Session, name: str) -> Sequence[ModelVersion]:
    """All public versions of one model, newest first; NotFound if none is public."""
    rows = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.name == name, ModelVersion.status.in_(PUBLIC_STATUSES))
        .order_by(ModelVersion.registered_at.desc(), ModelVersion.id.desc())
    ).all()
    if not rows:
        raise NotFound()
    return rows
