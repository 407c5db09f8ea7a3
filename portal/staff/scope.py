"""Which decisions a member of staff may see: a caseworker only their own unit's.

A simple version (the decision's responsible unit equals the caseworker's unit); another
unit's decision and a missing one look the same (None), so nobody can tell them apart.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.principal import Principal
from portal.decisions.models import Decision
from portal.registry.models import ModelVersion


def find_case_for_staff(session: Session, principal: Principal, public_id: str) -> Decision | None:
    """The decision ``public_id`` if ``principal`` is a caseworker of its responsible unit."""
    if not principal.is_staff or principal.role != "caseworker" or not principal.unit:
        return None
    return session.scalar(
        select(Decision)
        .join(ModelVersion, ModelVersion.id == Decision.model_version_id)
        .where(Decision.public_id == public_id, ModelVersion.responsible_unit == principal.unit)
    )
