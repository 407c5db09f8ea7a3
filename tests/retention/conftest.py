"""Decisions with everything that hangs on them, for the retention tests."""

from __future__ import annotations

import copy
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from portal.auth.models import StaffPrincipal
from portal.cases.models import CitizenRequest
from portal.decisions.models import Decision, Delivery, Explanation, Job
from portal.letters.models import LetterAttachment, OversightRecord
from tests.conftest import MINIMAL_MANIFEST

NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
CPR = "0101901234"


def manifest(name: str, retention_days: int | None) -> dict[str, Any]:
    m = copy.deepcopy(MINIMAL_MANIFEST)
    m["name"] = name
    if retention_days is not None:
        m["retention_days"] = retention_days
    return m


@pytest.fixture
def staff(session: Session) -> StaffPrincipal:
    person = StaffPrincipal(issuer="https://idp", subject="s1", role="caseworker", unit="U")
    session.add(person)
    session.flush()
    return person


@pytest.fixture
def full_decision(
    session: Session, decision_factory, staff: StaffPrincipal
) -> Callable[..., Decision]:
    """``full_decision(version, age_days, request_status="answered", **fields)``: a decision
    decided ``age_days`` before NOW, with its delivery, explanation, job, a citizen request,
    an oversight record and a letter attachment."""

    def make(version: Any, age_days: float, request_status: str = "answered", **fields: Any):
        decision = decision_factory(
            session,
            model_version=version,
            decided_at=NOW - dt.timedelta(days=age_days),
            case_reference=f"2027-{secrets.token_hex(3)}",
            **fields,
        )
        session.add_all(
            [
                Delivery(
                    system_id=decision.system_id,
                    webhook_id=decision.delivery_key,
                    kind="decision",
                    body_sha256="0" * 64,
                    status_code=202,
                    response={"id": decision.public_id, "status": "pending"},
                ),
                Explanation(
                    decision_id=decision.id,
                    payload={"values": [1, 2]},
                    explainer_kind="linear",
                    scale="probability",
                    shap_version="0",
                    artifact_sha256="a" * 64,
                    seed=0,
                    additivity_error=0.0,
                    computation_seconds=0.0,
                ),
                Job(kind="explain", decision_id=decision.id, system_id=decision.system_id),
                CitizenRequest(
                    decision_id=decision.id,
                    subject_key=decision.subject_key,
                    kind="human-review",
                    message="Se igen, tak.",
                    status=request_status,
                ),
                OversightRecord(
                    decision_id=decision.id, staff_id=staff.id, verdict="agreed", reason="ok"
                ),
                LetterAttachment(
                    decision_id=decision.id,
                    verification_code=secrets.token_hex(8),
                    pdf_sha256="b" * 64,
                    created_by_staff_id=staff.id,
                ),
            ]
        )
        session.flush()
        return decision

    return make
