"""``flask --app wsgi audit verify`` and ``audit seal``."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from portal.oversight.audit import Actor, record_event
from portal.oversight.sealer import seal_pending

CITIZEN = Actor(kind="citizen", ref="self", role="citizen")


def append(session: Session, n: int, subject_key: str = "k" * 64) -> list[int]:
    ids = [
        record_event(
            session, CITIZEN, "decision.viewed", purpose="own-case", subject_key=subject_key
        ).id
        for _ in range(n)
    ]
    session.commit()
    return ids


def key(app: Flask) -> str:
    return app.config["SETTINGS"].audit_checkpoint_key


def audit(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["audit", *args])


def test_verify_reports_an_intact_chain_and_the_unsealed_events(app, session) -> None:
    append(session, 3)
    seal_pending(session, key(app))
    append(session, 2)
    result = audit(app, "verify")
    assert result.exit_code == 0, result.output
    assert "OK: the chain is intact" in result.output
    assert "not sealed yet: 2" in result.output
    assert "checkpoints checked: 1" in result.output


def test_verify_names_the_first_broken_link_and_exits_non_zero(app, session) -> None:
    ids = append(session, 3)
    seal_pending(session, key(app))
    session.execute(text("UPDATE audit_event SET action = 'x.y' WHERE id = :id"), {"id": ids[1]})
    session.commit()
    result = audit(app, "verify")
    assert result.exit_code == 1
    assert f"BROKEN at event {ids[1]}" in result.output
    assert "edited" in result.output


def test_verify_checks_a_checkpoint_line_from_the_log(app, session) -> None:
    append(session, 2)
    checkpoint = seal_pending(session, key(app))
    assert checkpoint is not None
    session.commit()
    line = f"2026-12-03 09:00:00 INFO portal.audit {checkpoint.log_line()}"
    assert audit(app, "verify", "--checkpoint", line).exit_code == 0
    forged = line.replace(checkpoint.head, "f" * 64)
    result = audit(app, "verify", "--checkpoint", forged)
    assert result.exit_code == 1
    assert "signature" in result.output
    assert audit(app, "verify", "--checkpoint", "no checkpoint here").exit_code == 2


def test_seal_seals_everything_now(app, session) -> None:
    append(session, 3)
    result = audit(app, "seal")
    assert result.exit_code == 0, result.output
    assert "not sealed yet: 0" in audit(app, "verify").output
