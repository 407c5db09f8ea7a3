"""retention_receipt: a receipt per retention run that deleted something; and a partial
index of overridden decisions for the register's live figures

``flask --app wsgi retention run`` (and the worker, on a schedule) deletes decisions past
their model version's ``retention_days`` with everything tied to them, and prunes audit
events older than ``PORTAL_AUDIT_RETENTION_DAYS`` up to a signed checkpoint. Each run that
deletes anything leaves one row here: what (table counts), when, by which rule. No
personal data. See docs/retention.md.

``ix_decision_overridden`` (decision.model_version_id where followed_model is false) lets
the public register count the decisions a person overrode per version without reading
every decision (docs/register.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ran_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("run_by", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_receipt")),
    )
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.create_index(
            "ix_decision_overridden",
            ["model_version_id"],
            unique=False,
            postgresql_where=sa.text("followed_model IS false"),
            sqlite_where=sa.text("followed_model IS 0"),
        )


def downgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_index("ix_decision_overridden")
    op.drop_table("retention_receipt")
