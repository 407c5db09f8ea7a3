"""The administrator's overview: every system that sends decisions and its model versions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.decisions.models import Decision
from portal.registry.models import ModelVersion, System


@dataclass(frozen=True)
class ModelLine:
    name: str
    version: str
    status: str
    responsible_unit: str
    explainer_kind: str
    decisions: int
    warnings: int


@dataclass(frozen=True)
class SystemLine:
    name: str
    responsible_unit: str
    status: str
    models: list[ModelLine]


def systems(session: Session) -> list[SystemLine]:
    """Every system with the model versions it registered and how many decisions each made."""
    counts = dict(
        session.execute(
            select(Decision.model_version_id, func.count()).group_by(Decision.model_version_id)
        ).all()
    )
    by_system: dict[int | None, list[ModelLine]] = {}
    for mv in session.scalars(select(ModelVersion).order_by(ModelVersion.name, ModelVersion.id)):
        by_system.setdefault(mv.registered_by_system_id, []).append(
            ModelLine(
                mv.name,
                mv.version,
                mv.status,
                mv.responsible_unit,
                mv.explainer_kind or "",
                int(counts.get(mv.id, 0)),
                len(mv.warnings or []),
            )
        )
    return [
        SystemLine(s.name, s.responsible_unit, s.status, by_system.get(s.id, []))
        for s in session.scalars(select(System).order_by(System.name))
    ]
