"""Which decisions a member of staff may see: the caseworker's own unit only."""

from __future__ import annotations

from typing import Any

import pytest

from portal.auth.principal import Principal
from portal.staff.scope import find_case_for_staff


def staff(role: str, unit: str | None) -> Principal:
    return Principal("staff", None, None, 1, role, unit, "Test")


def test_a_caseworker_finds_a_case_of_their_unit(session: Any, cases: Any) -> None:
    found = find_case_for_staff(session, staff("caseworker", cases.unit), cases.ledighed.public_id)
    assert found is not None
    assert found.id == cases.ledighed.id


def test_another_units_case_is_as_missing(session: Any, cases: Any) -> None:
    principal = staff("caseworker", cases.unit)
    assert find_case_for_staff(session, principal, cases.byggesag.public_id) is None
    assert find_case_for_staff(session, principal, "no-such-case") is None


@pytest.mark.parametrize(
    "principal",
    [
        staff("caseworker", None),
        staff("caseworker", ""),
        staff("auditor", "Revision og tilsyn"),
        staff("admin", "Digitalisering"),
        Principal("citizen", "key", 1, None, "citizen", None, ""),
    ],
    ids=["no-unit", "empty-unit", "auditor", "admin", "citizen"],
)
def test_nobody_else_finds_cases(session: Any, cases: Any, principal: Principal) -> None:
    assert find_case_for_staff(session, principal, cases.ledighed.public_id) is None
