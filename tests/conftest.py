"""Test fixtures shared by the whole suite.

One database per session, built by running the migrations; each test runs inside a
transaction that is rolled back (SQLAlchemy's ``join_transaction_mode="create_savepoint"``),
so the app's own commits only release savepoints. ``PORTAL_TEST_DATABASE_URL`` selects
PostgreSQL; the default is a fresh SQLite file.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from db_support import reset_database, rolled_back
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from portal import create_app
from portal.db_session import get_db
from portal.migrate import upgrade

TEST_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
TEST_LOOKUP_KEY = "test-lookup-key-0123456789abcdefghijklmnop"


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app_overrides(database_url: str) -> dict[str, Any]:
    return {
        "env": "test",
        "demo": True,
        "database_url": database_url,
        "encryption_key": TEST_ENCRYPTION_KEY,
        "lookup_key": TEST_LOOKUP_KEY,
        "secret_key": "test-secret-key-0123456789abcdefghijkl",
        "worker": "off",
    }


@pytest.fixture(scope="session")
def app(app_overrides: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_overrides)
    engine = get_db(app).engine
    reset_database(engine)
    with engine.begin() as conn:
        upgrade(conn)
    yield app
    engine.dispose()


@pytest.fixture
def connection(app: Flask) -> Iterator[Connection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    with rolled_back(app) as conn:
        yield conn


@pytest.fixture
def session(app: Flask, connection: Connection) -> Iterator[Session]:
    """A session for arranging and checking data, in the test's rolled-back transaction."""
    s = get_db(app).session_factory()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def client(app: Flask, connection: Connection) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def committed_database_url(tmp_path_factory: pytest.TempPathFactory):
    """Make a database of its own whose commits are real (no rolled-back outer transaction),
    for concurrency, worker and durability tests: a SQLite file, or an emptied sibling
    ``<test database><suffix>`` of the PostgreSQL test database."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    def make(suffix: str) -> str:
        url = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
        if not url.startswith("postgresql"):
            return f"sqlite:///{tmp_path_factory.mktemp('committed') / f'{suffix}.db'}"
        base = make_url(url)
        name = f"{base.database}{suffix}"
        server = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        server.dispose()
        own = base.set(database=name)
        engine = create_engine(own)
        reset_database(engine)
        engine.dispose()
        return own.render_as_string(hide_password=False)

    return make


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


# --- Factories -------------------------------------------------------------------------
# Small rows for tests that need a decision but not a real model; tests of the explanation
# pipeline build real ones from portal.demo.

MINIMAL_MANIFEST: dict[str, Any] = {
    "name": "testmodel",
    "version": "1",
    "title": {"da": "Testmodel", "en": "Test model"},
    "purpose": {"da": "Til test.", "en": "For tests."},
    "legal_basis": {"da": "Ingen."},
    "responsible_unit": "Testforvaltningen",
    "human_oversight": {"da": "En sagsbehandler beslutter."},
    "output": {"kind": "probability", "positive_class": 1, "label": {"da": "Risiko"}},
    "considerations": [{"key": "beskaeftigelse", "label": {"da": "Arbejde"}}],
    "features": [
        {
            "key": "ledighed_uger",
            "type": "number",
            "label": {"da": "Uger som ledig"},
            "source": {"da": "STAR"},
            "consideration": "beskaeftigelse",
            "actionable": False,
            "sensitive": False,
            "min": 0,
            "max": 520,
        }
    ],
}


@pytest.fixture
def system_factory():
    from portal.registry.models import System

    def make(session: Session, name: str = "testsystem", unit: str = "Testforvaltningen"):
        system = System(name=name, responsible_unit=unit)
        session.add(system)
        session.flush()
        return system

    return make


@pytest.fixture
def model_version_factory():
    import hashlib

    from portal.registry.models import ModelArtifact, ModelVersion

    def make(session: Session, manifest: dict[str, Any] | None = None, status: str = "active"):
        manifest = manifest or MINIMAL_MANIFEST
        artifact = b"not-a-real-model:" + manifest["name"].encode()
        version = ModelVersion(
            name=manifest["name"],
            version=manifest["version"],
            status=status,
            manifest=manifest,
            responsible_unit=manifest["responsible_unit"],
            artifact_sha256=hashlib.sha256(artifact).hexdigest(),
            files=ModelArtifact(artifact=artifact),
        )
        session.add(version)
        session.flush()
        return version

    return make


@pytest.fixture
def decision_factory(system_factory, model_version_factory):
    import datetime as dt
    import secrets

    from portal.crypto import lookup_key
    from portal.decisions.models import Decision

    def make(
        session: Session,
        *,
        cpr: str = "0101901234",
        system=None,
        model_version=None,
        features: dict[str, Any] | None = None,
        **fields: Any,
    ):
        system = system or system_factory(session, name=f"system-{secrets.token_hex(4)}")
        model_version = model_version or model_version_factory(session)
        values: dict[str, Any] = {
            "system_id": system.id,
            "model_version_id": model_version.id,
            "delivery_key": secrets.token_hex(8),
            "case_reference": "2026-0000001",
            "case_title": {"da": "Testsag"},
            "subject_key": lookup_key(TEST_LOOKUP_KEY, cpr),
            "subject_cpr": cpr,
            "features": features or {"ledighed_uger": 30},
            "data_sources": {},
            "reported_output": 0.5,
            "outcome": {"da": "Afgjort."},
            "decided_by": "Testteam",
            "human_decided": True,
            "followed_model": True,
            "decided_at": dt.datetime(2026, 5, 21, 10, tzinfo=dt.UTC),
        }
        values.update(fields)
        decision = Decision(**values)
        session.add(decision)
        session.flush()
        return decision

    return make


# --- Login -----------------------------------------------------------------------------

DEFAULT_TEST_CPR = "0101901234"  # the decision_factory's default citizen
DEFAULT_TEST_UNIT = "Testforvaltningen"  # the system_factory's default unit


@pytest.fixture
def login_as(app: Flask, client: FlaskClient, session: Session):
    """``login_as(role, *, subject_key=None, unit=None) -> Principal``.

    Logs the test client in through the real server-side session store (the same as a
    login does, minus the identity provider): creates the citizen account or staff row,
    stores a session holding the principal and sets the session cookie. Roles: citizen,
    caseworker, auditor, admin. A citizen defaults to the lookup key of
    ``DEFAULT_TEST_CPR``; a caseworker to ``DEFAULT_TEST_UNIT``. Calling it again logs the
    client in as someone else.
    """
    import secrets

    from portal.auth.models import CitizenAccount, StaffPrincipal
    from portal.auth.principal import STAFF_ROLES, Principal, principal_session_data
    from portal.auth.services import citizen_principal, staff_principal
    from portal.auth.sessions import session_interface
    from portal.crypto import lookup_key

    def login(role: str, *, subject_key: str | None = None, unit: str | None = None) -> Principal:
        principal: Principal
        if role == "citizen":
            account = CitizenAccount(
                issuer="urn:test",
                subject=secrets.token_hex(8),
                subject_key=subject_key or lookup_key(TEST_LOOKUP_KEY, DEFAULT_TEST_CPR),
            )
            session.add(account)
            session.flush()
            principal = citizen_principal(account)
        elif role in STAFF_ROLES:
            if unit is None and role == "caseworker":
                unit = DEFAULT_TEST_UNIT
            staff = StaffPrincipal(
                issuer="urn:test",
                subject=secrets.token_hex(8),
                role=role,
                unit=unit or "",
                display_name=f"Test {role}",
            )
            session.add(staff)
            session.flush()
            principal = staff_principal(staff)
        else:
            raise ValueError(f"unknown role {role!r}")
        interface = session_interface(app)
        token = interface.create({"principal": principal_session_data(principal)})
        client.set_cookie(interface.cookie_name, token)
        return principal

    return login
