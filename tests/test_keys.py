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
