"""webhook_secret.public_id, oversight_record.public_id: row keys for bound ciphertexts

Every ciphertext's associated data names its table, column and row key (docs/security.md).
The row key must be known before the insert; these two tables had only autoincrement ids,
so each gets a random ``public_id`` (existing rows: 32 random hex characters). The
ciphertexts themselves are rewritten by ``flask --app wsgi keys rotate``, not here (a
migration does not hold the encryption keys); until then the old ones stay readable.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("webhook_secret", "oversight_record")


def upgrade() -> None:
    random_hex = (
        "lower(hex(randomblob(16)))"
        if op.get_bind().dialect.name == "sqlite"
        else "md5(random()::text || clock_timestamp()::text || id::text)"
    )
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
        op.execute(f"UPDATE {table} SET public_id = {random_hex}")  # noqa: S608 (constants)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
            batch_op.create_unique_constraint(batch_op.f(f"uq_{table}_public_id"), ["public_id"])


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"uq_{table}_public_id"), type_="unique")
            batch_op.drop_column("public_id")
