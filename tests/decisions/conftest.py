"""Fixtures for the worker and explanation tests: real demo models, decisions stored through
the ingest service."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from portal.decisions.intake import IngestOptions, receive_decision
from portal.registry import admin


@pytest.fixture(scope="session")
def demo_models():
    from portal.demo import build_demo_models

    return {m.name: m for m in build_demo_models()}


@pytest.fixture(scope="session")
def demo_bodies(demo_models):
    import datetime as dt

    from portal.demo import demo_citizens, demo_decisions

    now = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    return demo_decisions(list(demo_models.values()), demo_citizens(), now=now)


@pytest.fixture
def system(session: Session):
    system, _ = admin.create_system(session, "worker-sender", "Enhed")
    return system


@pytest.fixture
def active_models(session: Session, system, demo_models):
    out = {}
    for model in demo_models.values():
        reg = admin.register_model(
            session, model.manifest, model.artifact, model.background_csv, system=system
        )
        out[model.name] = admin.activate_model(session, model.name, model.version)
        assert reg.created
    return out


@pytest.fixture
def ingest(session: Session, system, active_models, app):
    """Store a decision body through the ingest service; returns its public id."""
    options = IngestOptions(lookup_key=app.config["SETTINGS"].lookup_key, max_attempts=3)
    counter = iter(range(10_000))

    def post(body, key: str | None = None) -> str:
        answer = receive_decision(session, system, key or f"k-{next(counter)}", body, options)
        assert answer.status == 202, answer.body
        session.flush()
        return answer.body["id"]

    return post
