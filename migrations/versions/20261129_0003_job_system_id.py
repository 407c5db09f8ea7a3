"""job.system_id and ix_job_claim: a claim reads each system's oldest due jobs by index

Before, a claim found the sending systems with due jobs and each system's oldest ones by
joining every due job with its decision: its cost grew with the backlog (115 ms a claim of
128 jobs at 40,000 waiting, on SQLite). The job now carries its decision's system, and
``ix_job_claim`` (system, status, kind, next attempt, id) serves "this system's oldest due
jobs of this kind" as an index range. Existing jobs get their decision's system.

The column stays nullable (a job row that names no decision would have no system); every
job the portal writes names its system, and the claim finds jobs by it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 11:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (on SQLite a copy of the table, as for the downgrade: nothing refers to job)
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("system_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_job_system_id_system"), "system", ["system_id"], ["id"]
        )
        batch_op.create_index(
            "ix_job_claim", ["system_id", "status", "kind", "next_attempt_at", "id"], unique=False
        )
    op.execute(
        "UPDATE job SET system_id = "
        "(SELECT decision.system_id FROM decision WHERE decision.id = job.decision_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_claim")
        batch_op.drop_constraint(op.f("fk_job_system_id_system"), type_="foreignkey")
        batch_op.drop_column("system_id")
