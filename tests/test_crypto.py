"""Encryption at rest, key rotation and the CPR lookup key."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from portal.crypto import DecryptionError, KeyRing, lookup_key
from portal.decisions.models import Decision

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
