"""Who is calling: the signed system behind a machine request."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import LargeBinary, Table, and_, bindparam, or_, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from portal.api.signing import SignatureError, SignedHeaders, check_timestamp, verify
from portal.crypto import KeyRing, active_key_ring
from portal.db import UTCDateTime
from portal.db_encryption import open_value
from portal.errors import Forbidden
from portal.registry.models import System, WebhookSecret


class SystemDisabled(Forbidden):
    code = "system-disabled"
    message = "This system is disabled and may not send requests."


@dataclass(frozen=True)
class Caller:
    """The system behind a signed request: what the API services need of a ``System``.

    Read per request (status and secret validity are never cached), without loading an
    ORM object; ``load`` gives the ``System`` row to services that need one.
    """

    id: int
    name: str
    status: str

    def load(self, session: Session) -> System:
        system = session.get(System, self.id)
        if system is None:  # deleted since the signature check
            raise SignatureError()
        return system


# Decrypted secrets, keyed by what makes a decryption's result immutable: the secret's id,
# the sha256 of its ciphertext and the key ring that decrypted it. Validity (valid_until)
# and the system's status are not part of what is cached: they are read per request.
# The ring itself is held with the text, so its id cannot be reused by another ring.
_PLAINTEXT: dict[tuple[int, bytes, int], tuple[KeyRing, str]] = {}
_PLAINTEXT_LOCK = threading.Lock()
_PLAINTEXT_SIZE = 256


def _decrypted(secret_id: int, row_key: str, ciphertext: bytes) -> str:
    ring = active_key_ring()
    key = (secret_id, hashlib.sha256(ciphertext).digest(), id(ring))
    entry = _PLAINTEXT.get(key)
    if entry is not None and entry[0] is ring:
        return entry[1]
    text: str = open_value(WebhookSecret.__table__.c.secret, row_key, ciphertext)
    with _PLAINTEXT_LOCK:
        if len(_PLAINTEXT) >= _PLAINTEXT_SIZE:
            _PLAINTEXT.pop(next(iter(_PLAINTEXT)), None)
        _PLAINTEXT[key] = (ring, text)
    return text


def _valid_at(now: Any) -> ColumnElement[bool]:
    """A secret is valid until its ``valid_until`` (None: no end)."""
    return or_(WebhookSecret.valid_until.is_(None), WebhookSecret.valid_until > now)


def valid_secrets(session: Session, system: System | Caller, now: dt.datetime) -> list[str]:
    """The system's secrets that are valid at ``now`` (decrypted)."""
    rows = session.execute(
        select(
            WebhookSecret.id,
            WebhookSecret.public_id,
            type_coerce(WebhookSecret.secret, LargeBinary),
        ).where(
            WebhookSecret.system_id == system.id,
            _valid_at(now),
        )
    ).all()
    return [_decrypted(id_, row_key, bytes(ciphertext)) for id_, row_key, ciphertext in rows]


def _system_and_secrets() -> Any:
    """The system by name, with its secrets valid at ``now`` (one row per secret): a Core
    statement on the tables, built once (it runs on every signed request)."""
    system = cast(Table, System.__table__)
    secret = cast(Table, WebhookSecret.__table__)
    now = bindparam("now", type_=UTCDateTime())
    return (
        select(
            system.c.id,
            system.c.name,
            system.c.status,
            secret.c.id,
            type_coerce(secret.c.secret, LargeBinary),
            secret.c.public_id,
        )
        .select_from(system)
        .outerjoin(
            secret,
            and_(
                secret.c.system_id == system.c.id,
                or_(secret.c.valid_until.is_(None), secret.c.valid_until > now),
            ),
        )
        .where(system.c.name == bindparam("name"))
    )


_SYSTEM_AND_SECRETS = _system_and_secrets()


def authenticate(
    session: Session,
    signed: SignedHeaders,
    body: bytes,
    *,
    now: dt.datetime,
    tolerance_seconds: int,
) -> Caller:
    """The system that signed ``body``; 401 for any signature problem, 403 when disabled.

    An unknown system name and a wrong secret give the same answer, so the API does not
    tell an outsider which system names exist. One query reads the system's status and
    its secrets valid at ``now``.
    """
    check_timestamp(signed, now, tolerance_seconds)
    rows = session.execute(_SYSTEM_AND_SECRETS, {"name": signed.system, "now": now}).all()
    if not rows:
        raise SignatureError()
    secrets = [_decrypted(row[3], row[5], bytes(row[4])) for row in rows if row[3] is not None]
    if not verify(signed, body, secrets):
        raise SignatureError()
    system_id, name, status = rows[0][0], rows[0][1], rows[0][2]
    if status != "active":
        raise SystemDisabled()
    return Caller(system_id, name, status)
