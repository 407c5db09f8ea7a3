"""Fixtures for the machine API: a system with a secret, a model version with every feature
type, and a client that signs like a real sender (the official ``standardwebhooks``
library's ``Webhook.sign``)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from api_support import RICH_MANIFEST, Sender, SignedClient, make_sender, row_counts
from db_support import reset_database
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.registry.models import ModelArtifact, ModelVersion


@pytest.fixture
def sender(session: Session) -> Sender:
    return make_sender(session, "fagsystem")


@pytest.fixture
def other_sender(session: Session) -> Sender:
    return make_sender(session, "andetsystem")


@pytest.fixture
def model(session: Session, sender: Sender) -> ModelVersion:
    """An active model version with every feature type (fake artifact: ingest needs none),
    registered by ``sender``."""
    version = ModelVersion(
        name=RICH_MANIFEST["name"],
        version=RICH_MANIFEST["version"],
        status="active",
        manifest=copy.deepcopy(RICH_MANIFEST),
        responsible_unit=RICH_MANIFEST["responsible_unit"],
        artifact_sha256="0" * 64,
        registered_by_system_id=sender.system.id,
        files=ModelArtifact(artifact=b"fake"),
    )
    session.add(version)
    session.flush()
    return version


@pytest.fixture
def signed_client(client: FlaskClient, sender: Sender) -> SignedClient:
    return SignedClient(client, sender)


@pytest.fixture
def counts(session: Session) -> Callable[[], dict[str, int]]:
    return lambda: row_counts(session)


@pytest.fixture
def api_app(app: Flask) -> Flask:
    return app


@pytest.fixture(scope="session")
def demo_models():
    """The two trained demo models (built once per test session, ~3 s)."""
    from portal.demo import build_demo_models

    return {m.name: m for m in build_demo_models()}


@pytest.fixture(scope="module")
def committed_app(app_overrides, committed_database_url):
    """A separate app on its own database whose commits are real (no rolled-back outer
    transaction): for concurrency and durability tests. Emptied afterwards."""
    from portal import create_app
    from portal.db_session import get_db
    from portal.migrate import upgrade

    app = create_app({**app_overrides, "database_url": committed_database_url("_committed")})
    engine = get_db(app).engine
    with engine.begin() as conn:
        upgrade(conn)
    yield app
    reset_database(engine)
    engine.dispose()
