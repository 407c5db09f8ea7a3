"""Driver statements convert values as SQLAlchemy does and stay in the session's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.db_driver import DriverStatement, driver_for
from portal.decisions.models import Decision, Delivery

_DELIVERY = cast(Table, Delivery.__table__)
INSERT = DriverStatement(insert(_DELIVERY).returning(_DELIVERY.c.id))
INSERT_MANY = DriverStatement(insert(_DELIVERY))
WHEN = dt.datetime(2026, 11, 29, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def delivery(system_id: int, key: str, **changes: Any) -> dict[str, Any]:
    values = {
        "system_id": system_id,
        "webhook_id": key,
        "kind": "decision",
        "body_sha256": "0" * 64,
        "status_code": 202,
        "response": {"id": key, "links": {"self": f"/api/v1/decisions/{key}"}},
        "received_at": WHEN,
    }
    return {**values, **changes}


def test_values_are_converted_by_their_column_types(session: Session, system_factory) -> None:
    system = system_factory(session)
    new_id = INSERT.scalar(driver_for(session), delivery(system.id, "a"))
    stored = session.get(Delivery, new_id)
    assert stored is not None
    # JSON serialised, the aware datetime stored as UTC and read back equal
    assert stored.response == {"id": "a", "links": {"self": "/api/v1/decisions/a"}}
    assert stored.received_at == WHEN
    assert stored.received_at.tzinfo == dt.UTC


def test_encrypted_columns_are_encrypted_as_by_the_orm(session: Session, decision_factory) -> None:
    decision = decision_factory(session, cpr="0101901234")
    decisions = cast(Table, Decision.__table__)
    change = DriverStatement(
        decisions.update()
        .where(decisions.c.id == bindparam("decision_id"))
        .values(subject_cpr=bindparam("cpr"))
    )
    change.execute(driver_for(session), {"decision_id": decision.id, "cpr": "0202801234"})
    raw = session.execute(
        text("SELECT subject_cpr FROM decision WHERE id = :id"), {"id": decision.id}
    ).scalar_one()
    assert b"0202801234" not in bytes(raw)
    session.expire_all()
    assert session.get(Decision, decision.id).subject_cpr == "0202801234"


def test_values_written_into_the_statement_are_kept(session: Session, system_factory) -> None:
    system = system_factory(session)
    driver = driver_for(session)
    for key in ("a", "b", "c"):
        INSERT.execute(driver, delivery(system.id, key))
    newest = DriverStatement(
        select(Delivery.webhook_id)
        .where(Delivery.system_id == bindparam("system"))
        .order_by(Delivery.id.desc())
        .limit(2)
    )
    assert [row[0] for row in newest.all(driver, {"system": system.id})] == ["c", "b"]
    assert newest.scalar(driver, {"system": system.id}) == "c"
    assert newest.first(driver, {"system": -1}) is None


def test_a_missing_value_is_refused_before_anything_runs(session: Session) -> None:
    values = delivery(1, "a")
    del values["received_at"]  # has a column default, which a driver statement never fills
    with pytest.raises(ValueError, match="no value given for received_at"):
        INSERT.execute(driver_for(session), values)


def test_driver_errors_arrive_as_sqlalchemy_errors(session: Session, system_factory) -> None:
    system = system_factory(session)
    driver = driver_for(session)
    INSERT.execute(driver, delivery(system.id, "same"))
    savepoint = session.begin_nested()
    INSERT.execute(driver_for(session), delivery(system.id, "inside"))
    with pytest.raises(IntegrityError):
        INSERT.execute(driver_for(session), delivery(system.id, "same"))
    savepoint.rollback()
    # The savepoint was begun on the connection and rolled back: the row inserted inside it
    # is gone, the one before it stays, and the transaction goes on (on PostgreSQL a failed
    # statement without a savepoint would have aborted the whole transaction).
    keys = session.scalars(select(Delivery.webhook_id).where(Delivery.system_id == system.id))
    assert list(keys) == ["same"]
    INSERT.execute(driver_for(session), delivery(system.id, "after"))


def test_executemany_inserts_every_row_and_nothing_for_none(
    session: Session, system_factory
) -> None:
    system = system_factory(session)
    INSERT_MANY.execute_many(driver_for(session), [])
    INSERT_MANY.execute_many(
        driver_for(session), [delivery(system.id, key) for key in ("x", "y", "z")]
    )
    keys = session.scalars(select(Delivery.webhook_id).where(Delivery.system_id == system.id))
    assert sorted(keys) == ["x", "y", "z"]


def test_statements_roll_back_with_the_session(session: Session, system_factory) -> None:
    system = system_factory(session)
    session.commit()  # (inside the test's outer transaction)
    INSERT.execute(driver_for(session), delivery(system.id, "gone"))
    session.rollback()
    assert session.scalar(select(Delivery.id).where(Delivery.webhook_id == "gone")) is None


def test_a_new_transaction_gets_its_connection_again(app, tmp_path) -> None:
    # A remembered driver must never outlive its transaction: after a commit, a statement
    # would otherwise run outside any transaction (SQLite would autocommit it at once).
    from portal.db import Database
    from portal.migrate import upgrade

    database = Database(f"sqlite:///{tmp_path / 'driver.db'}")
    with database.engine.begin() as conn:
        upgrade(conn)
    session = database.session_factory()
    try:
        first = driver_for(session)
        assert driver_for(session) is first  # remembered within the transaction
        session.commit()
        assert not session.in_transaction()
        driver_for(session)
        assert session.in_transaction()  # looked up again, which began a new transaction
        session.rollback()
    finally:
        session.close()
        database.engine.dispose()


def test_prepared_rows_run_later_as_if_converted_then(session: Session, system_factory) -> None:
    system = system_factory(session)
    dialect = session.get_bind().dialect
    many = INSERT_MANY.prepare(dialect, [delivery(system.id, k) for k in ("p1", "p2")])
    one = INSERT.prepare(dialect, [delivery(system.id, "p3")])
    driver = driver_for(session)
    INSERT_MANY.execute_many(driver, many)
    new_id = INSERT.scalar(driver, one)
    stored = session.scalars(
        select(Delivery).where(Delivery.system_id == system.id).order_by(Delivery.id)
    ).all()
    assert [d.webhook_id for d in stored] == ["p1", "p2", "p3"]
    assert stored[-1].id == new_id
    assert {d.received_at for d in stored} == {WHEN}  # converted by the column type
    assert stored[0].response == delivery(system.id, "p1")["response"]


def test_prepared_rows_are_refused_on_another_dialect_or_as_one_row(
    session: Session, system_factory
) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    system = system_factory(session)
    driver = driver_for(session)
    other = sqlite.dialect() if driver.dialect.name == "postgresql" else postgresql.dialect()
    rows = [delivery(system.id, "x1"), delivery(system.id, "x2")]
    with pytest.raises(ValueError, match="prepared for"):
        INSERT_MANY.execute_many(driver, INSERT_MANY.prepare(other, rows))
    with pytest.raises(ValueError, match="one prepared row"):
        INSERT.scalar(driver, INSERT.prepare(driver.dialect, rows))
    with pytest.raises(ValueError, match="no rows"):
        INSERT_MANY.prepare(driver.dialect, [])
    assert session.scalars(select(Delivery).where(Delivery.system_id == system.id)).all() == []
