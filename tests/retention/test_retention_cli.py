"""``flask retention run`` and ``flask retention prune-audit``, and the worker's schedule."""

from __future__ import annotations

import datetime as dt

from celery import Celery
from sqlalchemy import func, select

from portal.decisions.models import Decision
from portal.oversight.models import AuditSeal
from portal.retention.models import RetentionReceipt
from portal.retention.tasks import BEAT_ENTRY, RETENTION_TASK, register_retention
from portal.retention.worker import PeriodicRetention
from tests.retention.conftest import manifest


def _cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def test_retention_run_deletes_prints_the_receipt_and_is_idempotent(
    app, session, model_version_factory, full_decision
) -> None:
    version = model_version_factory(session, manifest("kort", 30))
    full_decision(version, 4000)  # decided eleven years ago: expired
    full_decision(model_version_factory(session, manifest("lang", 36500)), 4000)  # kept
    session.commit()
    cli = _cli(app)
    first = cli("retention", "run")
    assert first.exit_code == 0, first.output
    assert '"decision": 1' in first.output
    assert "receipt:" in first.output
    second = cli("retention", "run")
    assert second.exit_code == 0, second.output
    assert "nothing to delete" in second.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(RetentionReceipt)) == 1
    assert session.scalar(select(func.count()).select_from(Decision)) == 1
    sealed = cli("audit", "seal")
    assert sealed.exit_code == 0, sealed.output
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "OK: the chain is intact" in verified.output


def test_prune_audit_with_nothing_old_prunes_nothing(app, session) -> None:
    cli = _cli(app)
    cli("audit", "seal")
    result = cli("retention", "prune-audit")
    assert result.exit_code == 0, result.output
    assert "nothing to prune" in result.output


def test_prune_audit_then_audit_verify(app, session) -> None:
    from portal.oversight.audit import Actor, record_event
    from portal.oversight.sealer import seal_pending

    key = app.config["SETTINGS"].audit_checkpoint_key
    long_ago = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for i in range(3):
        record_event(session, Actor("admin", "cli", "admin"), "test.old", purpose="test")
        seal_pending(session, key, now=long_ago + dt.timedelta(days=i))
    session.commit()
    cli = _cli(app)
    result = cli("retention", "prune-audit")
    assert result.exit_code == 0, result.output
    assert "pruned events: 2" in result.output
    assert "anchor: audit-checkpoint" in result.output
    session.expire_all()
    assert session.scalar(select(func.min(AuditSeal.seq))) == 3
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "pruned by retention before the anchor checkpoint: 2" in verified.output


def test_the_periodic_round_runs_at_most_once_per_interval(
    app, session, model_version_factory, full_decision
) -> None:
    from portal.db_session import get_db

    version = model_version_factory(session, manifest("kort", 30))
    full_decision(version, 4000)
    session.commit()
    periodic = PeriodicRetention(get_db(app), interval=3600)
    periodic()
    full_decision(version, 4000)
    session.commit()
    periodic()  # within the interval: nothing happens
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Decision)) == 1


def test_the_celery_task_and_its_beat_entry(app, session) -> None:
    from portal.db_session import get_db

    settings = app.config["SETTINGS"]
    celery = Celery("test", set_as_current=False)
    register_retention(celery, lambda: (get_db(app), settings))
    assert celery.tasks[RETENTION_TASK].run() == 0
    entry = celery.conf.beat_schedule[BEAT_ENTRY]
    assert entry["task"] == RETENTION_TASK
    assert entry["schedule"] == float(settings.retention_interval_seconds)


def test_the_worker_app_and_the_inprocess_worker_run_retention(app_overrides) -> None:
    from portal.config import Settings
    from portal.decisions.dispatch import from_settings
    from portal.decisions.tasks import celery

    assert RETENTION_TASK in celery.tasks
    assert celery.conf.beat_schedule[BEAT_ENTRY]["task"] == RETENTION_TASK
    settings = Settings.load(environ={}, overrides={**app_overrides, "worker": "inprocess"})
    dispatcher = from_settings(settings, db=None)
    periodic = dispatcher.worker.periodic
    assert any(isinstance(p, PeriodicRetention) for p in periodic)
