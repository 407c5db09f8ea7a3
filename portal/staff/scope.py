"""Which decisions a member of staff may see, and why they look.

A caseworker sees the decisions of their own unit (the unit responsible for the model
version that made them); another unit's decision is treated as if it did not exist.
"""

from __future__ import annotations

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from portal.auth.principal import Principal
from portal.decisions.models import Decision
from portal.registry.models import ModelVersion

#: Why a caseworker opens a case (asked before it opens, written to the audit trail):
#: sagsbehandling, klage, aktindsigt, tilsyn.
PURPOSES = ("casework", "complaint", "access-request", "oversight")


def in_scope(principal: Principal) -> Select[Decision]:
    """A query of the decisions ``principal`` may see (none unless a caseworker with a
    unit)."""
    query = select(Decision).join(ModelVersion, ModelVersion.id == Decision.model_version_id)
    if principal.is_staff and principal.role == "caseworker" and principal.unit:
        return query.where(ModelVersion.responsible_unit == principal.unit)
    return query.where(false())


def find_case_for_staff(session: Session, principal: Principal, public_id: str) -> Decision | None:
    """The decision ``public_id`` if ``principal`` may see it, else None (missing and out of
    scope look the same)."""
    return session.scalar(in_scope(principal).where(Decision.public_id == public_id))
