"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from portal.migrate import alembic_config
from portal.models import Base


def test_models_and_migrations_agree(connection: Connection) -> None:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": True}
    )
    diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_migrations_have_a_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"several migration heads, merge them: {heads}"


def test_database_is_at_head(connection: Connection) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert MigrationContext.configure(connection).get_current_revision() == head


def test_no_plaintext_cpr_column(connection: Connection) -> None:
    """Citizens are found by a keyed HMAC; the CPR itself is only stored encrypted."""
    inspector = inspect(connection)
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            if "cpr" in column["name"]:
                assert column["type"].python_type is bytes, (table, column["name"])
