"""Finding and reading cases as a caseworker: search in the unit, CPR search (audited),
and opening one case with a purpose (audited).

Plain typed functions taking the session and the acting principal; they never read Flask's
globals and never commit. A decision outside the caseworker's unit raises ``NotFound``,
exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, contains_eager

from portal.auth.principal import Principal, audit_actor
from portal.cases.services import CaseDetail, requests_for
from portal.crypto import lookup_key
from portal.decisions.cpr import cpr_problem
from portal.decisions.explanations import StoredExplanation
from portal.decisions.models import Decision, Explanation
from portal.errors import BadRequest, NotFound
from portal.letters.models import OversightRecord
from portal.oversight.audit import record_event
from portal.registry.models import ModelVersion
from portal.staff.scope import PURPOSES, find_case_for_staff, in_scope

PAGE_SIZE = 20


class StaffInputError(BadRequest):
    """A staff form sent something the service refuses (the form checks it first)."""

    code = "staff-input-invalid"


@dataclass(frozen=True)
class SearchQuery:
    """What a caseworker searches by; every part optional, all given parts must match."""

    reference: str = ""
    decided_from: dt.date | None = None
    decided_to: dt.date | None = None
    model: str = ""
    page: int = 1


@dataclass(frozen=True)
class SearchPage:
    decisions: Sequence[Decision]
    page: int
    pages: int
    total: int


def unit_models(session: Session, principal: Principal) -> list[str]:
    """The names of the models the caseworker's unit is responsible for (the search's
    model choices)."""
    if not principal.unit:
        return []
    return list(
        session.scalars(
            select(ModelVersion.name)
            .where(ModelVersion.responsible_unit == principal.unit)
            .distinct()
            .order_by(ModelVersion.name)
        )
    )


def search(session: Session, principal: Principal, query: SearchQuery) -> SearchPage:
    """The unit's decisions matching ``query``, newest first, one page of ``PAGE_SIZE``."""
    stmt = in_scope(principal)
    if query.reference:
        stmt = stmt.where(Decision.case_reference == query.reference)
    if query.model:
        stmt = stmt.where(ModelVersion.name == query.model)
    if query.decided_from is not None:
        start = dt.datetime.combine(query.decided_from, dt.time.min, dt.UTC)
        stmt = stmt.where(Decision.decided_at >= start)
    if query.decided_to is not None:
        end = dt.datetime.combine(query.decided_to + dt.timedelta(days=1), dt.time.min, dt.UTC)
        stmt = stmt.where(Decision.decided_at < end)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, query.page), pages)
    rows = session.scalars(
        stmt.options(contains_eager(Decision.model_version))
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return SearchPage(rows, page, pages, total)


def _check_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise StaffInputError(code="purpose-missing")
    return purpose


def search_by_cpr(
    session: Session, principal: Principal, cpr: str, *, purpose: str, lookup_secret: str
) -> list[Decision]:
    """The unit's decisions about the person with this CPR number. The search itself is
    written to the audit trail (the citizen sees it); the CPR is never stored or logged,
    only its lookup key."""
    _check_purpose(purpose)
    cpr = cpr.strip().replace("-", "")
    if cpr_problem(cpr) is not None:
        raise StaffInputError(code="cpr-invalid")
    subject_key = lookup_key(lookup_secret, cpr)
    rows = list(
        session.scalars(
            in_scope(principal)
            .where(Decision.subject_key == subject_key)
            .order_by(Decision.decided_at.desc(), Decision.id.desc())
        )
    )
    record_event(
        session,
        audit_actor(principal),
        "search.cpr",
        purpose=purpose,
        subject_key=subject_key,
        details={"unit": principal.unit, "found": len(rows)},
    )
    return rows


@dataclass(frozen=True)
class StaffCase:
    """One case as a caseworker reads it: what the citizen sees, and the staff details."""

    detail: CaseDetail
    explanation_row: Explanation | None
    oversight: Sequence[OversightRecord] = field(default_factory=tuple)  # newest first
    replaced_by: str | None = None  # the public id of the decision that corrects this one

    @property
    def decision(self) -> Decision:
        return self.detail.decision

    @property
    def flags(self) -> list[str]:
        """Flag codes: from the explanation, and the sender's output disagreeing with the
        registered model (known even before the explanation is made)."""
        codes = list(self.detail.explanation.flag_codes()) if self.detail.explanation else []
        if self.decision.output_mismatch and "output-mismatch" not in codes:
            codes.append("output-mismatch")
        return codes


def scoped_decision(session: Session, principal: Principal, public_id: str) -> Decision:
    """The decision if it is in the caseworker's scope; NotFound otherwise."""
    decision = find_case_for_staff(session, principal, public_id)
    if decision is None:
        raise NotFound()
    return decision


def oversight_history(session: Session, decision: Decision) -> list[OversightRecord]:
    """Every oversight record of a decision, newest (the one in force) first."""
    return list(
        session.scalars(
            select(OversightRecord)
            .where(OversightRecord.decision_id == decision.id)
            .order_by(OversightRecord.created_at.desc(), OversightRecord.id.desc())
        )
    )


def open_case(session: Session, principal: Principal, public_id: str, *, purpose: str) -> StaffCase:
    """Read a case in the unit for ``purpose`` and write that to the audit trail (the
    citizen sees the role, the unit and the purpose, never a name)."""
    decision = scoped_decision(session, principal, public_id)
    _check_purpose(purpose)
    row = session.scalar(select(Explanation).where(Explanation.decision_id == decision.id))
    requests = requests_for(session, decision)
    history = oversight_history(session, decision)
    for record in history:
        _ = record.staff  # loaded now: the page is rendered after the unit of work
    record_event(
        session,
        audit_actor(principal),
        "decision.viewed",
        purpose=purpose,
        decision_public_id=decision.public_id,
        subject_key=decision.subject_key,
        details={"unit": principal.unit},
    )
    explanation = StoredExplanation.from_row(row) if row is not None else None
    detail = CaseDetail(
        decision, decision.model_version, explanation, requests, history[0] if history else None
    )
    replaced_by = session.scalar(
        select(Decision.public_id).where(Decision.supersedes == decision.public_id)
    )
    return StaffCase(detail, row, history, replaced_by)
