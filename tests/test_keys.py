"""Encryption key rotation re-encrypts every personal value and keeps it readable."""

from __future__ import annotations

import base64

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from portal.crypto import KeyRing, active_key_ring, install_key_ring
from portal.decisions.models import Decision
from portal.keys import encrypted_columns, rotate


def test_every_personal_column_is_known() -> None:
    columns = set(encrypted_columns())
    assert {
        ("decision", "subject_cpr"),
        ("decision", "features"),
        ("decision", "outcome"),
        ("webhook_secret", "secret"),
        ("citizen_request", "message"),
    } <= columns


def test_rotate_rewrites_old_ciphertext_with_the_new_key(
    session: Session, connection: Connection, decision_factory
) -> None:
    old_ring = active_key_ring()
    decision = decision_factory(session, cpr="0202851234")
    session.flush()
    new_key = base64.urlsafe_b64encode(b"r" * 32).decode()
    old_key = base64.urlsafe_b64encode(b"k" * 32).decode()  # tests/conftest.py's key
    new_ring = KeyRing.from_config(f"{new_key},{old_key}")
    try:
        install_key_ring(new_ring)
        report = rotate(connection, new_ring)
        assert report.rewritten >= 4  # cpr, features, data_sources, outcome of the decision
        raw = connection.execute(
            text("SELECT subject_cpr FROM decision WHERE id = :id"), {"id": decision.id}
        ).scalar_one()
        assert not new_ring.needs_rotation(bytes(raw))
        session.expire_all()
        install_key_ring(KeyRing.from_config(new_key))  # old key gone: data still readable
        assert session.get(Decision, decision.id).subject_cpr == "0202851234"
        assert rotate(connection, new_ring).rewritten == 0
    finally:
        install_key_ring(old_ring)


def test_the_keys_rotate_command_binds_old_rows_and_reports_counts(
    app_overrides, committed_database_url, decision_factory
) -> None:
    """``flask keys rotate`` on a database of its own: old-format values are rewritten and
    counted per column; a second run rewrites nothing."""
    from portal import create_app
    from portal.db_session import get_db
    from portal.migrate import upgrade

    app = create_app({**app_overrides, "database_url": committed_database_url("_keys")})
    db = get_db(app)
    try:
        with db.engine.begin() as conn:
            upgrade(conn)
        with db.transaction() as session:
            decision_id = decision_factory(session, cpr="0303903333").id
        with db.engine.begin() as conn:
            old = active_key_ring().encrypt_json("0303903333")  # format v1: no place
            conn.execute(
                text("UPDATE decision SET subject_cpr = :t WHERE id = :id"),
                {"t": old, "id": decision_id},
            )
        runner = app.test_cli_runner()
        first = runner.invoke(args=["keys", "rotate"])
        assert first.exit_code == 0, first.output
        assert "decision.subject_cpr: checked 1, re-encrypted 1" in first.output
        again = runner.invoke(args=["keys", "rotate"])
        assert "re-encrypted 0" in again.output.splitlines()[-1]
        with db.reading() as session:
            assert session.get(Decision, decision_id).subject_cpr == "0303903333"
    finally:
        db.engine.dispose()
