"""Fixtures for the caseworker pages: demo decisions, a caseworker of their unit and one of
another unit."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from factories_cases import DemoWorld, add_citizen_cases, add_world, demo_citizens
from sqlalchemy.orm import Session

from portal.crypto import lookup_key
from portal.decisions.models import Decision

TEST_LOOKUP_KEY = "test-lookup-key-0123456789abcdefghijklmnop"  # as tests/conftest.py
OTHER_UNIT = "Kultur- og Fritidsforvaltningen"


@dataclass
class Cases:
    world: DemoWorld
    anne: Any  # the demo citizen
    ledighed: Decision  # Anne's unemployment case
    byggesag: Decision  # Anne's building case (another unit)

    @property
    def unit(self) -> str:
        return self.ledighed.model_version.responsible_unit

    @property
    def subject_key(self) -> str:
        return lookup_key(TEST_LOOKUP_KEY, self.anne.cpr)


@pytest.fixture
def cases(session: Session) -> Cases:
    world = add_world(session)
    anne = next(c for c in demo_citizens() if c.name.split()[1].lower() == "anne")
    ledighed, byggesag = add_citizen_cases(session, world, anne.cpr, lookup_secret=TEST_LOOKUP_KEY)
    session.commit()  # releases the test's savepoint; the outer transaction rolls back
    assert ledighed.model_version.responsible_unit != byggesag.model_version.responsible_unit
    return Cases(world, anne, ledighed, byggesag)


@pytest.fixture
def caseworker(login_as: Callable[..., Any], cases: Cases) -> Any:
    """Logs the client in as a caseworker of the unemployment case's unit."""
    return login_as("caseworker", unit=cases.unit)


def subject_key_of(cpr: str) -> str:
    return lookup_key(TEST_LOOKUP_KEY, cpr)


@pytest.fixture
def login_citizen(login_as: Callable[..., Any]) -> Callable[[Any], Any]:
    def login(citizen: Any) -> Any:
        return login_as("citizen", subject_key=subject_key_of(citizen.cpr))

    return login


@pytest.fixture
def no_csrf(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)


def csrf_token(client: Any, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert match is not None, html[:500]
    return match.group(1)
