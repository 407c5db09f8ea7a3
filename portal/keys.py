"""Re-encrypting personal data: after a key rotation, and into the format bound to a place.

Rotation: put the new key first in ``PORTAL_ENCRYPTION_KEY`` (keep the old one after it),
restart, run ``flask --app wsgi keys rotate``, then remove the old key. The same command
rewrites ciphertexts made before they were bound to their place (format v1, no associated
data) into format v2 (see docs/security.md). It is idempotent: a value already made with
the current key and bound to its place is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, LargeBinary, Table, bindparam, select, type_coerce, update

import portal.models  # noqa: F401  (every table must be in Base.metadata)
from portal.crypto import KeyRing, place
from portal.db import Base
from portal.db_encryption import EncryptedJSON, row_key_column


@dataclass(frozen=True)
class RotationReport:
    """Values read and values rewritten, in all and per ``table.column``."""

    rewritten: int
    checked: int
    per_column: dict[str, tuple[int, int]] = field(default_factory=dict)


def encrypted_columns() -> list[tuple[str, str]]:
    """(table, column) of every column stored with :class:`EncryptedJSON`."""
    return [
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedJSON)
    ]


def rotate(connection: Connection, ring: KeyRing, batch_size: int = 500) -> RotationReport:
    """Re-encrypt, with the ring's current key and bound to its place, every value made with
    an older key or without a place; ``batch_size`` rows are read and written at a time.

    Works on raw bytes (the column type is bypassed), so a value is decoded only as far as
    AES needs. A value that does not decrypt stops the rotation with ``DecryptionError``
    (nothing is guessed); what was rewritten before stays rewritten, and a new run goes on.
    """
    per_column: dict[str, tuple[int, int]] = {}
    for table_name, column_name in encrypted_columns():
        table = Base.metadata.tables[table_name]
        per_column[f"{table_name}.{column_name}"] = _rotate_column(
            connection, ring, table, column_name, batch_size
        )
    return RotationReport(
        rewritten=sum(r for _, r in per_column.values()),
        checked=sum(c for c, _ in per_column.values()),
        per_column=per_column,
    )


def _rotate_column(
    connection: Connection, ring: KeyRing, table: Table, column_name: str, batch_size: int
) -> tuple[int, int]:
    pk = next(iter(table.primary_key.columns))
    key = row_key_column(table)
    column = table.c[column_name]
    # type_coerce keeps SQL unchanged but skips the EncryptedJSON type (and its hooks).
    query = (
        select(pk, key, type_coerce(column, LargeBinary))
        .where(column.is_not(None))
        .order_by(pk)
        .limit(batch_size)
    )
    rewrite = (
        update(table)
        .where(pk == bindparam("pk_"))
        .values({column_name: bindparam("fresh_", type_=LargeBinary)})
    )
    checked = rewritten = 0
    after = None
    while True:
        page = connection.execute(query if after is None else query.where(pk > after)).all()
        if not page:
            return checked, rewritten
        checked += len(page)
        fresh = []
        for pk_value, row_key, token in page:
            where = place(table.name, column_name, row_key)
            if ring.needs_rotation(bytes(token), placed=True):
                plaintext = ring.decrypt(bytes(token), where)
                fresh.append({"pk_": pk_value, "fresh_": ring.encrypt(plaintext, where)})
        if fresh:
            connection.execute(rewrite, fresh)
        rewritten += len(fresh)
        after = page[-1][0]
