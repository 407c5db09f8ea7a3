"""Fixtures for letter attachments: a demo citizen's ready case and a caseworker of its unit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from factories_cases import DemoWorld, add_citizen_cases, add_world, demo_citizens
from letters_support import TEST_LOOKUP_KEY
from sqlalchemy.orm import Session


@pytest.fixture(scope="session")
def citizens() -> dict[str, Any]:
    return {c.name.split()[1].lower(): c for c in demo_citizens()}


@pytest.fixture
def world(session: Session) -> DemoWorld:
    return add_world(session)


@pytest.fixture
def case(session: Session, world: DemoWorld, citizens: dict[str, Any]) -> Any:
    """Anne's first demo case (unemployment risk), ready with its explanation."""
    decision = add_citizen_cases(
        session, world, citizens["anne"].cpr, lookup_secret=TEST_LOOKUP_KEY
    )[0]
    session.commit()  # releases the test's savepoint; the outer transaction rolls back
    return decision


@pytest.fixture
def caseworker(login_as: Callable[..., Any], case: Any) -> Any:
    """Log the client in as a caseworker of the case's unit."""
    return login_as("caseworker", unit=case.model_version.responsible_unit)


@pytest.fixture
def attachment_pdf(client: Any, case: Any, caseworker: Any) -> Callable[..., Any]:
    """``attachment_pdf(language=None)``: the response of generating the case's attachment."""

    def get(language: str | None = None) -> Any:
        query = f"?sprog={language}" if language else ""
        return client.get(f"/sagsbehandler/sager/{case.public_id}/bilag.pdf{query}")

    return get
