"""Encryption at rest, key rotation and the CPR lookup key."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from portal.cases.models import CitizenRequest
from portal.crypto import DecryptionError, KeyRing, active_key_ring, lookup_key, place
from portal.db import Base
from portal.db_encryption import (
    EncryptedJSON,
    NoRowKey,
    UnplacedValue,
    encrypted_columns_of,
    row_key_column,
)
from portal.decisions.models import Decision
from portal.keys import rotate

OLD = base64.urlsafe_b64encode(b"o" * 32).decode()
NEW = base64.urlsafe_b64encode(b"n" * 32).decode()


def test_round_trip_and_tamper_detection() -> None:
    ring = KeyRing.from_config(NEW)
    token = ring.encrypt_json({"cpr": "0101901234"})
    assert b"0101901234" not in token
    assert ring.decrypt_json(token) == {"cpr": "0101901234"}
    flipped = token[:-1] + bytes([token[-1] ^ 1])
    with pytest.raises(DecryptionError):
        ring.decrypt(flipped)


def test_rotation_reads_old_data_and_writes_with_the_new_key() -> None:
    old_token = KeyRing.from_config(OLD).encrypt(b"data")
    rotated = KeyRing.from_config(f"{NEW},{OLD}")
    assert rotated.decrypt(old_token) == b"data"
    assert rotated.needs_rotation(old_token)
    assert not rotated.needs_rotation(rotated.encrypt(b"data"))
    with pytest.raises(DecryptionError):
        KeyRing.from_config(NEW).decrypt(old_token)


def test_lookup_key_is_keyed_and_normalised() -> None:
    assert lookup_key("k1", "010190-1234") == lookup_key("k1", "0101901234")
    assert lookup_key("k1", "0101901234") != lookup_key("k2", "0101901234")
    assert "0101901234" not in lookup_key("k1", "0101901234")


def test_personal_data_is_ciphertext_in_the_database(
    session: Session, connection: Connection, decision_factory
) -> None:
    decision = decision_factory(session, cpr="0101901234", features={"ledighed_uger": 30})
    session.flush()
    raw = connection.execute(
        text("SELECT subject_cpr, features FROM decision WHERE id = :id"), {"id": decision.id}
    ).one()
    assert b"0101901234" not in bytes(raw.subject_cpr)
    assert b"ledighed_uger" not in bytes(raw.features)
    session.expire_all()
    assert session.get(Decision, decision.id).subject_cpr == "0101901234"


# --- ciphertexts bound to their place (table, column, row key) ---------------------------


def _copy(connection: Connection, source: tuple[str, str, int], target: tuple[str, str, int]):
    """What an attacker with write access to the database does: move a ciphertext."""
    (from_table, from_column, from_id), (to_table, to_column, to_id) = source, target
    token = connection.execute(
        text(f"SELECT {from_column} FROM {from_table} WHERE id = :id"),
        {"id": from_id},
    ).scalar_one()
    connection.execute(
        text(f"UPDATE {to_table} SET {to_column} = :token WHERE id = :id"),
        {"token": bytes(token), "id": to_id},
    )


def _raw(connection: Connection, table: str, column: str, id_: int) -> bytes:
    query = text(f"SELECT {column} FROM {table} WHERE id = :id")
    return bytes(connection.execute(query, {"id": id_}).scalar_one())


@pytest.fixture
def make_decision(session: Session, decision_factory, model_version_factory):
    """Decisions of one model version (the factory would register one per decision)."""
    version = model_version_factory(session)
    return lambda **fields: decision_factory(session, model_version=version, **fields)


@pytest.fixture
def two_decisions(make_decision):
    first = make_decision(cpr="0101901111", features={"alder": 41})
    second = make_decision(cpr="0202902222", features={"alder": 62})
    return first, second


def test_a_ciphertext_copied_to_another_row_is_refused(
    session: Session, connection: Connection, two_decisions
) -> None:
    first, second = two_decisions
    for column in ("subject_cpr", "features", "outcome"):
        _copy(connection, ("decision", column, first.id), ("decision", column, second.id))
    session.expire_all()
    with pytest.raises(DecryptionError, match="another place"):
        session.get(Decision, second.id)
    assert session.get(Decision, first.id).subject_cpr == "0101901111"  # the original reads


def test_a_ciphertext_copied_to_another_column_of_its_row_is_refused(
    session: Session, connection: Connection, make_decision
) -> None:
    decision_id = make_decision(features={"alder": 41}, data_sources={"a": 1}).id
    _copy(
        connection, ("decision", "features", decision_id), ("decision", "data_sources", decision_id)
    )
    session.expire_all()
    with pytest.raises(DecryptionError):
        session.scalars(select(Decision.data_sources).where(Decision.id == decision_id)).one()
    features = session.scalars(select(Decision.features).where(Decision.id == decision_id))
    assert features.one() == {"alder": 41}  # the column it came from still reads


def test_a_ciphertext_copied_to_another_table_is_refused_even_with_the_same_row_key(
    session: Session, connection: Connection, decision_factory
) -> None:
    decision = decision_factory(session, cpr="0101901111")
    request = CitizenRequest(
        public_id=decision.public_id,  # same row key: only the table (and column) differ
        decision_id=decision.id,
        subject_key=decision.subject_key,
        kind="human-review",
        message="Se venligst på det igen",
    )
    session.add(request)
    session.flush()
    _copy(
        connection,
        ("decision", "subject_cpr", decision.id),
        ("citizen_request", "message", request.id),
    )
    session.expire_all()
    with pytest.raises(DecryptionError):
        session.get(CitizenRequest, request.id)


def test_the_row_key_columns_of_the_encrypted_tables() -> None:
    """Every table with an encrypted column has a row key known before insert (a table
    added without one fails here, not in production)."""
    keys = {
        table.name: row_key_column(table).name
        for table in Base.metadata.sorted_tables
        if encrypted_columns_of(table)
    }
    assert keys["decision"] == "public_id"
    assert keys["citizen_request"] == "public_id"
    assert keys["webhook_secret"] == "public_id"
    assert keys["oversight_record"] == "public_id"
    assert keys["server_session"] == "key"
    assert keys["explanation"] == "decision_id"


def test_a_table_without_a_row_key_cannot_hold_encrypted_columns() -> None:
    table = Table(
        "no_key",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("secret", EncryptedJSON),
    )
    with pytest.raises(NoRowKey, match="public_id"):
        row_key_column(table)


def test_core_bulk_inserts_are_bound_to_each_row(
    session: Session, connection: Connection, two_decisions
) -> None:
    first, _ = two_decisions
    table = Decision.__table__
    template = {
        c: getattr(first, c)
        for c in (
            "system_id", "model_version_id", "case_reference", "case_title", "subject_key",
            "data_sources", "reported_output", "outcome", "decided_by", "human_decided",
            "followed_model", "decided_at",
        )
    }  # fmt: skip
    rows = [
        {**template, "public_id": f"bulk-{n}", "delivery_key": f"bulk-{n}", "subject_cpr": f"c{n}",
         "features": {"n": n}}
        for n in range(3)
    ]  # fmt: skip
    ids = connection.execute(insert(table).returning(table.c.id), rows).scalars().all()
    ring = active_key_ring()
    for n, id_ in enumerate(ids):
        token = _raw(connection, "decision", "features", id_)
        assert token[:1] == b"\x02"
        assert ring.decrypt_json(token, place("decision", "features", f"bulk-{n}")) == {"n": n}
        with pytest.raises(DecryptionError):
            ring.decrypt_json(token, place("decision", "features", f"bulk-{(n + 1) % 3}"))
    assert rows[0]["features"] == {"n": 0}  # the caller's rows are not changed
    found = session.execute(
        select(Decision.public_id, Decision.features).where(Decision.id.in_(ids))
    )
    assert sorted(found.all()) == [(f"bulk-{n}", {"n": n}) for n in range(3)]


def test_an_orm_insert_makes_its_row_key_before_the_insert(
    session: Session, decision_factory
) -> None:
    decision = decision_factory(session)
    request = CitizenRequest(
        decision_id=decision.id, subject_key="k", kind="rectification", message="Forkert alder"
    )
    session.add(request)
    session.flush()
    assert request.public_id  # known to the object, not only to the database
    session.expire_all()
    assert session.get(CitizenRequest, request.id).message == "Forkert alder"


def test_an_orm_update_is_bound_by_the_primary_key(
    session: Session, connection: Connection, decision_factory
) -> None:
    decision = decision_factory(session)
    decision.decision_reason = {"da": "Sagsbehandleren vurderede anderledes."}
    session.flush()
    token = _raw(connection, "decision", "decision_reason", decision.id)
    reason = active_key_ring().decrypt_json(
        token, place("decision", "decision_reason", decision.public_id)
    )
    assert reason == {"da": "Sagsbehandleren vurderede anderledes."}


@pytest.mark.parametrize(
    "statement",
    [
        # no row named: which row key?
        lambda: (
            update(Decision.__table__)
            .where(Decision.__table__.c.status == "pending")
            .values(features=bindparam("f"))
        ),
        # a literal in values() never passes the parameters the hook seals
        lambda: (
            update(Decision.__table__)
            .where(Decision.__table__.c.id == bindparam("i"))
            .values(features={"alder": 1})
        ),
    ],
    ids=["no-row-named", "literal-value"],
)
def test_an_unplaced_write_is_refused_and_stores_nothing(
    session: Session, connection: Connection, decision_factory, statement
) -> None:
    decision = decision_factory(session, features={"alder": 41})
    before = _raw(connection, "decision", "features", decision.id)
    with pytest.raises(UnplacedValue):
        connection.execute(statement(), {"f": {"alder": 99}, "i": decision.id})
    assert _raw(connection, "decision", "features", decision.id) == before


def test_a_value_bound_to_a_place_opens_only_there() -> None:
    ring = KeyRing.from_config(NEW)
    here = place("decision", "features", "abc")
    token = ring.encrypt_json({"alder": 41}, here)
    assert ring.decrypt_json(token, here) == {"alder": 41}
    for elsewhere in (
        b"",
        place("decision", "features", "abd"),
        place("decision", "outcome", "abc"),
        place("citizen_request", "features", "abc"),
    ):
        with pytest.raises(DecryptionError):
            ring.decrypt_json(token, elsewhere)
    # the parts are length-prefixed: moving a character between parts is another place
    assert place("ab", "c", "d") != place("a", "bc", "d")
    assert place("a", "b", "cd") != place("a", "bc", "d")


# --- the old format (no associated data) and its conversion -------------------------------


def _write_old_format(connection: Connection, table: str, column: str, id_: int, value) -> None:
    token = active_key_ring().encrypt_json(value)  # v1: no associated data
    assert token[:1] == b"\x01"
    connection.execute(
        text(f"UPDATE {table} SET {column} = :t WHERE id = :id"),
        {"t": token, "id": id_},
    )


def test_old_format_rows_stay_readable_until_rotate_binds_them(
    session: Session, connection: Connection, two_decisions
) -> None:
    first, second = two_decisions
    _write_old_format(connection, "decision", "subject_cpr", first.id, "0101901111")
    _write_old_format(connection, "decision", "features", first.id, {"alder": 41})
    session.expire_all()
    assert session.get(Decision, first.id).features == {"alder": 41}

    report = rotate(connection, active_key_ring(), batch_size=1)
    assert report.per_column["decision.subject_cpr"][1] >= 1
    assert report.per_column["decision.features"][1] >= 1
    for column in ("subject_cpr", "features"):
        assert _raw(connection, "decision", column, first.id)[:1] == b"\x02"
    assert rotate(connection, active_key_ring()).rewritten == 0  # idempotent
    session.expire_all()
    assert session.get(Decision, first.id).subject_cpr == "0101901111"

    _copy(connection, ("decision", "features", first.id), ("decision", "features", second.id))
    session.expire_all()
    with pytest.raises(DecryptionError):
        session.get(Decision, second.id)


def test_rotate_works_in_batches_and_counts_per_column(
    session: Session, connection: Connection, make_decision
) -> None:
    decisions = [make_decision(features={"n": n}) for n in range(5)]
    for d in decisions:
        _write_old_format(connection, "decision", "features", d.id, {"n": d.features["n"]})
    checked, rewritten = rotate(connection, active_key_ring(), batch_size=2).per_column[
        "decision.features"
    ]
    assert rewritten >= 5  # five old-format values, over three batches
    assert checked >= rewritten
    session.expire_all()
    assert [session.get(Decision, d.id).features for d in decisions] == [{"n": n} for n in range(5)]
