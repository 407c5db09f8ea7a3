"""supervision aggregates, decision monitoring and outcomes

The aggregates behind /tilsyn (counts only, no personal data), kept up to date by the
worker's aggregation job; ``decision.monitoring`` (attributes sent for fairness
monitoring only, encrypted like the features); ``decision_outcome`` (the real outcome a
system reports later, for equalised odds). Only new tables and one nullable column, so
the downgrade drops them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 11:44:26.260221
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db
import portal.db_encryption

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supervision_chain_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ran_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("unsealed", sa.Integer(), nullable=False),
        sa.Column("checkpoints", sa.Integer(), nullable=False),
        sa.Column("first_broken_id", sa.Integer(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_chain_check")),
    )
    op.create_table(
        "supervision_watermark",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_supervision_watermark")),
    )
    op.create_table(
        "supervision_feature_bin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(length=100), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_supervision_feature_bin_model_version_id_model_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_feature_bin")),
        sa.UniqueConstraint(
            "model_version_id",
            "feature",
            "week",
            "bin",
            name=op.f("uq_supervision_feature_bin_model_version_id_feature_week_bin"),
        ),
    )
    op.create_table(
        "supervision_group_cell",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("attribute", sa.String(length=100), nullable=False),
        sa.Column("group_key", sa.String(length=100), nullable=False),
        sa.Column("predicted", sa.Integer(), nullable=False),
        sa.Column("actual", sa.Integer(), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("output_sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_supervision_group_cell_model_version_id_model_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_group_cell")),
        sa.UniqueConstraint(
            "model_version_id",
            "source",
            "attribute",
            "group_key",
            "predicted",
            "actual",
            name="uq_supervision_group_cell_key",
        ),
    )
    op.create_table(
        "supervision_model_week",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("out_of_range", sa.Integer(), nullable=False),
        sa.Column("explained", sa.Integer(), nullable=False),
        sa.Column("sensitive_top", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_supervision_model_week_model_version_id_model_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_model_week")),
        sa.UniqueConstraint(
            "model_version_id", "week", name=op.f("uq_supervision_model_week_model_version_id_week")
        ),
    )
    op.create_table(
        "supervision_rate_cell",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("overridden", sa.Integer(), nullable=False),
        sa.Column("human_decided", sa.Integer(), nullable=False),
        sa.Column("reviews", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_supervision_rate_cell_model_version_id_model_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_rate_cell")),
        sa.UniqueConstraint(
            "model_version_id",
            "unit",
            "week",
            name=op.f("uq_supervision_rate_cell_model_version_id_unit_week"),
        ),
    )
    op.create_table(
        "supervision_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("computed_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_supervision_report_model_version_id_model_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_report")),
        sa.UniqueConstraint(
            "model_version_id", "kind", name=op.f("uq_supervision_report_model_version_id_kind")
        ),
    )
    op.create_table(
        "decision_outcome",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("actual_positive", sa.Boolean(), nullable=False),
        sa.Column("observed_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decision.id"], name=op.f("fk_decision_outcome_decision_id_decision")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_outcome")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_decision_outcome_decision_id")),
    )
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("monitoring", portal.db_encryption.EncryptedJSON(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_column("monitoring")

    op.drop_table("decision_outcome")
    op.drop_table("supervision_report")
    op.drop_table("supervision_rate_cell")
    op.drop_table("supervision_model_week")
    op.drop_table("supervision_group_cell")
    op.drop_table("supervision_feature_bin")
    op.drop_table("supervision_watermark")
    op.drop_table("supervision_chain_check")
