"""decision.supersedes: a corrected decision names the decision it replaces

The decision webhook's optional ``supersedes`` is the public id of an earlier decision of
the same system about the same person (after a wrong-data request was accepted). The
portal links the two: the citizen reads the new explanation, what changed, and the old one
as history. Older decisions replace nothing (NULL).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("supersedes", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_decision_supersedes"), ["supersedes"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_supersedes"))
        batch_op.drop_column("supersedes")
