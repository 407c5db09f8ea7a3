"""A corrected decision names the decision it replaces (``supersedes`` in the webhook).

The replaced decision must be one the same system sent about the same person, and not
already replaced: otherwise the body is refused (422) and nothing is stored. The check
reads two indexed rows and runs only for bodies that carry ``supersedes``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.decisions.models import Decision


def supersede_problems(
    session: Session, *, system_id: int, subject_key: str, public_id: str, prefix: str = ""
) -> list[dict[str, Any]]:
    """The problems with ``supersedes: public_id`` for a decision of ``system_id`` about
    ``subject_key`` (empty when it may replace it)."""
    field = f"{prefix}supersedes"
    owner = session.scalar(
        select(Decision.subject_key).where(
            Decision.public_id == public_id, Decision.system_id == system_id
        )
    )
    if owner is None or owner != subject_key:
        # Another system's or another person's decision answers as one that does not exist.
        return [
            {
                "field": field,
                "code": "unknown-superseded-decision",
                "message": "no earlier decision of this system about this person has this id",
            }
        ]
    taken = session.scalar(select(Decision.id).where(Decision.supersedes == public_id).limit(1))
    return [] if taken is None else already_superseded(prefix)


def already_superseded(prefix: str = "") -> list[dict[str, Any]]:
    """The problem of a second correction of the same decision (it is replaced once)."""
    return [
        {
            "field": f"{prefix}supersedes",
            "code": "decision-already-superseded",
            "message": "this decision has already been replaced by a corrected decision",
        }
    ]
