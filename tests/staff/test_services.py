"""Searching the unit's cases, the CPR search and opening a case with a purpose."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from factories_cases import add_decision, bodies_of
from sqlalchemy import select

from portal.auth.principal import Principal
from portal.errors import NotFound
from portal.oversight.models import AuditEvent
from portal.staff import services
from portal.staff.services import SearchQuery, StaffInputError

from .conftest import TEST_LOOKUP_KEY


def caseworker_of(unit: str) -> Principal:
    return Principal("staff", None, None, 7, "caseworker", unit, "Test")


def events(session: Any, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_search_by_exact_reference(session: Any, cases: Any) -> None:
    me = caseworker_of(cases.unit)
    found = services.search(session, me, SearchQuery(reference=cases.ledighed.case_reference))
    assert [d.id for d in found.decisions] == [cases.ledighed.id]
    partial = cases.ledighed.case_reference[:-1]
    assert services.search(session, me, SearchQuery(reference=partial)).total == 0
    other = cases.byggesag.case_reference  # another unit's case is never found
    assert services.search(session, me, SearchQuery(reference=other)).total == 0


def test_search_by_date_range_and_model(session: Any, cases: Any) -> None:
    me = caseworker_of(cases.unit)
    day = cases.ledighed.decided_at.date()
    inside = SearchQuery(decided_from=day, decided_to=day)
    assert [d.id for d in services.search(session, me, inside).decisions] == [cases.ledighed.id]
    after = SearchQuery(decided_from=day + dt.timedelta(days=1))
    assert services.search(session, me, after).total == 0
    model = cases.ledighed.model_version.name
    assert services.search(session, me, SearchQuery(model=model)).total == 1
    assert services.search(session, me, SearchQuery(model="byggesagsscreening")).total == 0


def test_search_is_paginated(session: Any, cases: Any) -> None:
    body = bodies_of(cases.anne.cpr)[0]
    for i in range(services.PAGE_SIZE + 3):
        copy = {**body, "case": {**body["case"], "reference": f"PAGE-{i:03d}"}}
        add_decision(session, cases.world, copy, lookup_secret=TEST_LOOKUP_KEY, status="pending")
    me = caseworker_of(cases.unit)
    first = services.search(session, me, SearchQuery())
    second = services.search(session, me, SearchQuery(page=2))
    assert (first.total, first.pages, len(first.decisions)) == (24, 2, services.PAGE_SIZE)
    assert len(second.decisions) == 4
    assert not {d.id for d in first.decisions} & {d.id for d in second.decisions}
    assert services.search(session, me, SearchQuery(page=99)).page == 2


def test_cpr_search_finds_the_units_cases_and_is_logged(session: Any, cases: Any) -> None:
    me = caseworker_of(cases.unit)
    found = services.search_by_cpr(
        session, me, cases.anne.cpr, purpose="complaint", lookup_secret=TEST_LOOKUP_KEY
    )
    assert [d.id for d in found] == [cases.ledighed.id]
    (event,) = events(session, "search.cpr")
    assert (event.purpose, event.subject_key) == ("complaint", cases.subject_key)
    assert event.details == {"unit": cases.unit, "found": 1}
    assert cases.anne.cpr not in repr(event.details)


@pytest.mark.parametrize(
    ("cpr", "purpose", "code"),
    [("0101801234", "", "purpose-missing"), ("3213801234", "casework", "cpr-invalid")],
)
def test_cpr_search_refuses_bad_input_and_logs_nothing(
    session: Any, cases: Any, cpr: str, purpose: str, code: str
) -> None:
    with pytest.raises(StaffInputError) as refused:
        services.search_by_cpr(
            session, caseworker_of(cases.unit), cpr, purpose=purpose, lookup_secret="k"
        )
    assert refused.value.code == code
    assert events(session, "search.cpr") == []


def test_opening_a_case_logs_role_unit_and_purpose(session: Any, cases: Any) -> None:
    me = caseworker_of(cases.unit)
    opened = services.open_case(session, me, cases.ledighed.public_id, purpose="access-request")
    assert opened.detail.explanation is not None
    assert opened.explanation_row is not None
    assert opened.explanation_row.shap_version
    (event,) = events(session, "decision.viewed")
    assert (event.actor_kind, event.actor_role, event.actor_ref) == (
        "staff",
        "caseworker",
        "staff:7",
    )
    assert (event.purpose, event.details) == ("access-request", {"unit": cases.unit})
    assert event.subject_key == cases.ledighed.subject_key


def test_opening_needs_a_known_purpose_and_the_unit(session: Any, cases: Any) -> None:
    me = caseworker_of(cases.unit)
    with pytest.raises(StaffInputError):
        services.open_case(session, me, cases.ledighed.public_id, purpose="curiosity")
    with pytest.raises(NotFound):
        services.open_case(session, me, cases.byggesag.public_id, purpose="casework")
    assert events(session, "decision.viewed") == []


def test_output_mismatch_is_a_flag_before_the_explanation(session: Any, cases: Any) -> None:
    cases.ledighed.output_mismatch = True
    opened = services.open_case(
        session, caseworker_of(cases.unit), cases.ledighed.public_id, purpose="oversight"
    )
    assert "output-mismatch" in opened.flags
