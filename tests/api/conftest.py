"""Fixtures for the machine API: a system with a secret, a model version with every feature
type, and a client that signs like a real sender (the official ``standardwebhooks``
library's ``Webhook.sign``)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from api_support import RICH_MANIFEST, Sender, SignedClient, make_sender, row_counts
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.registry.models import ModelVersion


@pytest.fixture
def sender(session: Session) -> Sender:
    return make_sender(session, "fagsystem")


@pytest.fixture
def other_sender(session: Session) -> Sender:
    return make_sender(session, "andetsystem")


@pytest.fixture
def model(session: Session) -> ModelVersion:
    """An active model version with every feature type (fake artifact: ingest needs none)."""
    version = ModelVersion(
        name=RICH_MANIFEST["name"],
        version=RICH_MANIFEST["version"],
        status="active",
        manifest=copy.deepcopy(RICH_MANIFEST),
        responsible_unit=RICH_MANIFEST["responsible_unit"],
        artifact=b"fake",
        artifact_sha256="0" * 64,
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


def _separate_postgres_url(url: str, suffix: str) -> str:
    """A sibling database of the test database (created if missing), for committed tests."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}{suffix}"
    admin_engine = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin_engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def committed_app(tmp_path_factory, app_overrides):
    """A separate app on its own database whose commits are real (no rolled-back outer
    transaction): for concurrency and durability tests. Emptied afterwards."""
    import os

    from sqlalchemy import text

    from portal import create_app
    from portal.db_session import get_db
    from portal.migrate import upgrade

    url = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        url = _separate_postgres_url(url, "_committed")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('committed') / 'committed.db'}"
    app = create_app({**app_overrides, "database_url": url})
    engine = get_db(app).engine

    def reset() -> None:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))

    reset()
    with engine.begin() as conn:
        upgrade(conn)
    yield app
    reset()
    engine.dispose()
