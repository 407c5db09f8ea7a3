"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Connection, bindparam, inspect, text

from portal.db import UTCDateTime, make_engine
from portal.migrate import alembic_config, downgrade, upgrade
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


ARTIFACT = bytes(range(256)) * 1000  # larger than a page: SQLite keeps it in overflow pages
BACKGROUND = b"alder,indkomst\n" + b"40,1000\n" * 5000


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def test_0002_0003_move_the_blobs_and_give_jobs_their_system_and_back(
    committed_database_url,
) -> None:
    """With a decision referring to the version (foreign keys on, as the portal runs), the
    blobs move to ``model_artifact`` byte for byte (0002), the decision's job gets the
    decision's system (0003), and a downgrade undoes both."""
    engine = make_engine(committed_database_url("_blobs"))
    at = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    try:
        with engine.begin() as conn:
            upgrade(conn, "0001")
            conn.execute(
                text(
                    "INSERT INTO system (id, name, responsible_unit, status, created_at)"
                    " VALUES (1, 'fagsystem', 'Enhed', 'active', :at)"
                ),
                {"at": at},
            )
            for id_, background in ((1, BACKGROUND), (2, None)):
                conn.execute(
                    text(
                        "INSERT INTO model_version (id, name, version, status, manifest,"
                        " responsible_unit, artifact, artifact_sha256, background,"
                        " background_sha256, warnings, registered_at) VALUES (:id, 'm', :v,"
                        " 'active', '{}', 'Enhed', :artifact, :sha, :background, NULL, '[]',"
                        " :at)"
                    ),
                    {
                        "id": id_,
                        "v": str(id_),
                        "artifact": ARTIFACT + bytes([id_]),
                        "sha": f"{id_:064d}",
                        "background": background,
                        "at": at,
                    },
                )
            conn.execute(
                text(
                    "INSERT INTO decision (id, public_id, system_id, model_version_id,"
                    " delivery_key, case_reference, case_title, subject_key, subject_cpr,"
                    " features, data_sources, reported_output, output_mismatch, outcome,"
                    " decided_by, human_decided, followed_model, decided_at, received_at,"
                    " status) VALUES (1, 'pub', 1, 1, 'key', 'sag-1', '{}', 'subject', :b, :b,"
                    " :b, 0.5, :f, :b, 'sagsbehandler', :t, :t, :at, :at, 'received')"
                ),
                {"b": b"x", "f": False, "t": True, "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO job (id, kind, decision_id, status, attempts, max_attempts,"
                    " next_attempt_at, created_at) VALUES (1, 'explain', 1, 'pending', 0, 5,"
                    " :at, :at)"
                ),
                {"at": at},
            )

        with engine.begin() as conn:
            upgrade(conn, "0002")
            assert not {"artifact", "background"} & _columns(conn, "model_version")
            rows = conn.execute(
                text(
                    "SELECT model_version_id, artifact, background FROM model_artifact"
                    " ORDER BY model_version_id"
                )
            ).all()
            assert [(r[0], bytes(r[1]), r[2] and bytes(r[2])) for r in rows] == [
                (1, ARTIFACT + b"\x01", BACKGROUND),
                (2, ARTIFACT + b"\x02", None),
            ]
            assert conn.scalar(text("SELECT artifact_sha256 FROM model_version WHERE id = 2")) == (
                f"{2:064d}"
            )
            assert conn.scalar(text("SELECT model_version_id FROM decision")) == 1

        with engine.begin() as conn:
            upgrade(conn, "0003")
            assert conn.execute(text("SELECT id, system_id FROM job")).all() == [(1, 1)]
            assert "ix_job_claim" in {i["name"] for i in inspect(conn).get_indexes("job")}

        with engine.begin() as conn:
            downgrade(conn, "0001")
            assert "system_id" not in _columns(conn, "job")
            assert conn.scalar(text("SELECT decision_id FROM job WHERE id = 1")) == 1
            assert "model_artifact" not in inspect(conn).get_table_names()
            rows = conn.execute(
                text("SELECT id, artifact, background FROM model_version ORDER BY id")
            ).all()
            assert [(r[0], bytes(r[1]), r[2] and bytes(r[2])) for r in rows] == [
                (1, ARTIFACT + b"\x01", BACKGROUND),
                (2, ARTIFACT + b"\x02", None),
            ]
    finally:
        engine.dispose()


def test_0004_moves_the_existing_chain_into_audit_seal_and_back(committed_database_url) -> None:
    """Events chained the old way (hashes in the row) keep their hashes: 0004 makes them the
    first seals, in id order, and the chain verifies; a downgrade puts them back."""
    from sqlalchemy.orm import Session

    from portal.oversight.audit import GENESIS, entry_hash, verify_chain

    engine = make_engine(committed_database_url("_audit_chain"))
    at = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    rows = []
    prev = GENESIS
    for n in range(3):
        row = {
            "occurred_at": at + dt.timedelta(minutes=n),
            "actor_kind": "citizen",
            "actor_ref": "self",
            "actor_role": "citizen",
            "action": "decision.viewed",
            "purpose": "own-case",
            "decision_public_id": f"d{n}",
            "subject_key": "k" * 64,
            "details": {"n": n},
        }
        row["prev_hash"], row["entry_hash"] = prev, entry_hash(prev, row)
        prev = row["entry_hash"]
        rows.append(row)
    try:
        with engine.begin() as conn:
            upgrade(conn, "0003")
            for row in rows:
                conn.execute(
                    text(
                        "INSERT INTO audit_event (occurred_at, actor_kind, actor_ref,"
                        " actor_role, action, purpose, decision_public_id, subject_key,"
                        " details, prev_hash, entry_hash) VALUES (:occurred_at, :actor_kind,"
                        " :actor_ref, :actor_role, :action, :purpose, :decision_public_id,"
                        " :subject_key, :details, :prev_hash, :entry_hash)"
                    ).bindparams(
                        bindparam("occurred_at", type_=UTCDateTime()),
                        bindparam("details", type_=JSON()),
                    ),
                    row,
                )
            upgrade(conn, "0004")
            assert "entry_hash" not in _columns(conn, "audit_event")
            seals = conn.execute(text("SELECT seq, entry_hash FROM audit_seal ORDER BY seq")).all()
            assert seals == [(n + 1, row["entry_hash"]) for n, row in enumerate(rows)]
            report = verify_chain(Session(bind=conn))
            assert report.ok, report.problem
            assert report.checked == 3
            downgrade(conn, "0003")
            hashes = conn.execute(text("SELECT entry_hash FROM audit_event ORDER BY id")).all()
            assert [h for (h,) in hashes] == [row["entry_hash"] for row in rows]
    finally:
        engine.dispose()


def test_0009_gives_webhook_secrets_a_row_key_and_old_secrets_stay_usable(
    committed_database_url,
) -> None:
    """Secrets stored before 0006 (ciphertext without a place) get a random unique
    ``public_id``; the signature check still reads them, ``keys rotate`` binds them to their
    row; a downgrade drops the column again."""
    from sqlalchemy.orm import Session

    from portal.api.auth import valid_secrets
    from portal.crypto import active_key_ring
    from portal.keys import rotate
    from portal.registry.models import System

    engine = make_engine(committed_database_url("_row_keys"))
    at = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    ring = active_key_ring()
    try:
        with engine.begin() as conn:
            upgrade(conn, "0008")
            conn.execute(
                text(
                    "INSERT INTO system (id, name, responsible_unit, status, created_at)"
                    " VALUES (1, 'fagsystem', 'Enhed', 'active', :at)"
                ).bindparams(bindparam("at", type_=UTCDateTime())),
                {"at": at},
            )
            for n in (1, 2):
                conn.execute(
                    text(
                        "INSERT INTO webhook_secret (id, system_id, secret, fingerprint,"
                        " created_at) VALUES (:id, 1, :secret, 'f', :at)"
                    ).bindparams(bindparam("at", type_=UTCDateTime())),
                    {"id": n, "secret": ring.encrypt_json(f"whsec_old{n}"), "at": at},
                )
            upgrade(conn, "0009")
            keys = conn.execute(text("SELECT public_id FROM webhook_secret")).scalars().all()
            assert len(set(keys)) == 2
            assert all(len(k) == 32 for k in keys)
            session = Session(bind=conn)
            system = session.get(System, 1)
            assert sorted(valid_secrets(session, system, at)) == ["whsec_old1", "whsec_old2"]
            upgrade(conn)  # `keys rotate` runs on the current schema (all encrypted columns)
            assert rotate(conn, ring).per_column["webhook_secret.secret"] == (2, 2)
            assert sorted(valid_secrets(session, system, at)) == ["whsec_old1", "whsec_old2"]
            session.close()
            downgrade(conn, "0008")
            assert "public_id" not in _columns(conn, "webhook_secret")
            assert "public_id" not in _columns(conn, "oversight_record")
    finally:
        engine.dispose()
