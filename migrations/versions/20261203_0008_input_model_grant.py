"""model_grant: a system may post decisions to a model it did not register

Until now any system could post decisions on any model version. From this revision a
system posts only to the versions it registered or has been granted (``flask systems grant
SYSTEM MODEL[/VERSION]``); a grant without a version covers every version of the model.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=50), nullable=True),
        sa.Column("granted_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"], ["system.id"], name=op.f("fk_model_grant_system_id_system")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_grant")),
    )
    op.create_index(
        "ix_model_grant_system_model", "model_grant", ["system_id", "model_name"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_model_grant_system_model", table_name="model_grant")
    op.drop_table("model_grant")
