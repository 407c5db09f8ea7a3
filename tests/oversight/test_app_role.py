"""PostgreSQL: the application's role, granted per migrations/sql/app_role.sql, may append
to the audit tables and read them, but never change or remove a row; other tables get full
DML."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ProgrammingError

from portal.migrate import grant_app_role, upgrade

AUDIT_TABLES = ("audit_event", "audit_seal", "audit_checkpoint", "retention_receipt")
ROW = {
    "audit_event": "(occurred_at, actor_kind, actor_ref, actor_role, action, purpose, details)"
    " VALUES (now(), 'worker', 'w', 'worker', 'a.b', 'test', '{}')",
    "audit_seal": "(seq, event_id, prev_hash, entry_hash, sealed_at)"
    " VALUES (1, 1, repeat('0', 64), repeat('1', 64), now())",
    "audit_checkpoint": "(sealed_count, head_hash, created_at, signature, max_event_id,"
    " horizon_event_id) VALUES (1, repeat('1', 64), now(), repeat('2', 64), 1, 0)",
    "retention_receipt": "(ran_at, scope, run_by, total, counts, rules)"
    " VALUES (now(), 'personal-data', 'cli', 0, '{}', '{}')",
}


@pytest.fixture(scope="module")
def owner_url(committed_database_url) -> str:
    url = committed_database_url("_role")
    if not url.startswith("postgresql"):
        pytest.skip("roles and grants are PostgreSQL's")
    return url


@pytest.fixture(scope="module")
def as_app_role(owner_url) -> Iterator[Engine]:
    """A migrated database owned by the test's superuser, and an engine logged in as a new
    role granted per the SQL file."""
    url = owner_url
    owner = create_engine(url)
    role = f"{make_url(url).database}_app"
    with owner.begin() as conn:
        upgrade(conn)
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        grant_app_role(conn, role)
    app = create_engine(make_url(url).set(username=role, password=None))
    yield app
    app.dispose()
    with owner.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    owner.dispose()


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_the_app_role_appends_and_reads_the_audit_tables(as_app_role, table) -> None:
    with as_app_role.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} {ROW[table]}"))
        assert conn.scalar(text(f"SELECT count(*) FROM {table}")) >= 1


@pytest.mark.parametrize("table", AUDIT_TABLES)
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET {column} = {column}", "DELETE FROM {table}", "TRUNCATE {table}"],
)
def test_the_app_role_may_not_change_or_remove_audit_rows(as_app_role, table, statement) -> None:
    column = {
        "audit_event": "purpose",
        "audit_seal": "entry_hash",
        "retention_receipt": "total",
    }.get(table, "signature")
    with as_app_role.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
        conn.execute(text(statement.format(table=table, column=column)))


def test_the_app_role_has_full_dml_on_the_other_tables(as_app_role) -> None:
    with as_app_role.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO system (name, responsible_unit, status, created_at)"
                " VALUES ('role-test', 'Enhed', 'active', now())"
            )
        )
        conn.execute(text("UPDATE system SET responsible_unit = 'Anden' WHERE name = 'role-test'"))
        conn.execute(text("DELETE FROM system WHERE name = 'role-test'"))
        assert conn.scalar(text("SELECT version_num FROM alembic_version"))


def test_a_role_that_owns_the_tables_is_refused(owner_url, as_app_role) -> None:
    import psycopg

    owner = create_engine(owner_url)
    try:
        with owner.begin() as conn, pytest.raises(psycopg.Error, match="owns tables"):
            grant_app_role(conn, make_url(owner_url).username or "postgres")
    finally:
        owner.dispose()
