"""Audit events as plain rows; the chain moves to append-only seal and checkpoint tables

Before, every request read the chain's head and hashed its events in under one global
lock (a PostgreSQL advisory lock held to the end of the request). Now requests insert
events without hashes, and the sealer inserts a seal per event (``audit_seal``: its place
in the chain, the previous hash and its hash) and signed checkpoints of the head
(``audit_checkpoint``). Nothing in these tables is ever updated, so the application's
role can be limited to INSERT and SELECT on them (``migrations/sql/app_role.sql``).

The existing chain is kept: its hashes move to ``audit_seal`` as they are, in id order
(the order they were chained in), so they verify with the same formula. The first sealing
round writes the first checkpoint.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_seal",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_seal")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_seal_event_id")),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sealed_count", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("max_event_id", sa.Integer(), nullable=False),
        sa.Column("horizon_event_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
    )
    # The old chain, in the order it was chained (by id), sealed when it was written.
    op.execute(
        "INSERT INTO audit_seal (seq, event_id, prev_hash, entry_hash, sealed_at)"
        " SELECT ROW_NUMBER() OVER (ORDER BY id), id, prev_hash, entry_hash, occurred_at"
        " FROM audit_event"
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_audit_event_entry_hash"), type_="unique")
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")


def downgrade() -> None:
    connection = op.get_bind()
    unsealed = connection.scalar(
        sa.text(
            "SELECT count(*) FROM audit_event WHERE NOT EXISTS"
            " (SELECT 1 FROM audit_seal WHERE audit_seal.event_id = audit_event.id)"
        )
    )
    if unsealed:
        raise RuntimeError(
            f"{unsealed} audit events are not sealed: run `flask --app wsgi audit seal` first"
        )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE audit_event SET"
        " prev_hash = (SELECT s.prev_hash FROM audit_seal s WHERE s.event_id = audit_event.id),"
        " entry_hash = (SELECT s.entry_hash FROM audit_seal s WHERE s.event_id = audit_event.id)"
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(op.f("uq_audit_event_entry_hash"), ["entry_hash"])
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_seal")
