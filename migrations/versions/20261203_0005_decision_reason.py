"""decision.decision_reason: the decider's reason for not following the model

The decision webhook's optional ``decision.reason`` (text per language, like ``outcome``)
is stored here, encrypted like the other texts of a decision, and shown on the citizen's
page when the caseworker did not follow the model. Older decisions have none (NULL): the
page then says that the reason is in the decision letter.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db_encryption

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("decision_reason", portal.db_encryption.EncryptedJSON(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_column("decision_reason")
