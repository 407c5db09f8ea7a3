"""Re-encrypting personal data after an encryption key rotation.

Rotation: put the new key first in ``PORTAL_ENCRYPTION_KEY`` (keep the old one after it),
restart, run ``flask --app wsgi keys rotate``, then remove the old key.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, LargeBinary, bindparam, select, type_coerce, update

import portal.models  # noqa: F401  (every table must be in Base.metadata)
from portal.crypto import KeyRing
from portal.db import Base, EncryptedJSON


@dataclass(frozen=True)
class RotationReport:
    rewritten: int
    checked: int


def encrypted_columns() -> list[tuple[str, str]]:
    """(table, column) of every column stored with :class:`EncryptedJSON`."""
    return [
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedJSON)
    ]


def rotate(connection: Connection, ring: KeyRing, batch_size: int = 500) -> RotationReport:
    """Re-encrypt with the ring's current key every value made with an older key.

    Works on raw bytes, so no value is decoded into Python objects beyond what AES needs.
    """
    rewritten = checked = 0
    for table_name, column_name in encrypted_columns():
        table = Base.metadata.tables[table_name]
        pk = next(iter(table.primary_key.columns))
        column = table.c[column_name]
        # type_coerce keeps SQL unchanged but skips the decrypting TypeDecorator.
        query = select(pk, type_coerce(column, LargeBinary)).where(column.is_not(None)).order_by(pk)
        stale: list[tuple[object, bytes]] = []
        for key, token in connection.execute(query):
            checked += 1
            if ring.needs_rotation(bytes(token)):
                stale.append((key, ring.encrypt(ring.decrypt(bytes(token)))))
        for start in range(0, len(stale), batch_size):
            for key, fresh in stale[start : start + batch_size]:
                connection.execute(
                    update(table)
                    .where(pk == key)
                    .values({column_name: bindparam("fresh", fresh, type_=LargeBinary)})
                )
        rewritten += len(stale)
    return RotationReport(rewritten=rewritten, checked=checked)
