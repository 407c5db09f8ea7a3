"""Fixtures for the citizen pages: demo citizens with real decisions and explanations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from factories_cases import DemoWorld, add_citizen_cases, add_world, demo_citizens
from sqlalchemy.orm import Session

from portal.crypto import lookup_key

TEST_LOOKUP_KEY = "test-lookup-key-0123456789abcdefghijklmnop"  # as tests/conftest.py


def subject_key_of(cpr: str) -> str:
    return lookup_key(TEST_LOOKUP_KEY, cpr)


@pytest.fixture(scope="session")
def citizens() -> dict[str, Any]:
    """Demo citizens by first name: anne (2 cases), jonas (sensitive top feature),
    fatima (caseworker overrode the model), peter (3 building cases), lars, mette (none)."""
    return {c.name.split()[1].lower(): c for c in demo_citizens()}


@pytest.fixture
def world(session: Session) -> DemoWorld:
    return add_world(session)


@pytest.fixture
def cases_of(session: Session, world: DemoWorld) -> Callable[..., list[Any]]:
    """``cases_of(citizen, statuses=None)`` stores the citizen's demo decisions."""

    def make(citizen: Any, statuses: list[str] | None = None) -> list[Any]:
        decisions = add_citizen_cases(
            session, world, citizen.cpr, lookup_secret=TEST_LOOKUP_KEY, statuses=statuses
        )
        session.commit()  # releases the test's savepoint; the outer transaction rolls back
        return decisions

    return make


@pytest.fixture
def login_citizen(login_as: Callable[..., Any]) -> Callable[[Any], Any]:
    def login(citizen: Any) -> Any:
        return login_as("citizen", subject_key=subject_key_of(citizen.cpr))

    return login
