"""The embedded default: explanations computed by a daemon thread in the web process.

Against a really committed database (the thread has its own sessions): a decision posted
through the signed API is explained without anyone calling the worker; CLI commands never
start the thread.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from decisions_support import signed_headers
from sqlalchemy import select

from portal import create_app
from portal.db_session import get_db
from portal.decisions.dispatch import get_worker
from portal.decisions.models import Decision, Job
from portal.registry import admin

WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def inprocess(app_overrides, demo_models, committed_database_url):
    """An app with worker="inprocess" on its own migrated database, a system and both demo
    models active. The thread is stopped afterwards."""
    from portal.migrate import upgrade

    url = committed_database_url("_inprocess")
    app = create_app(
        {**app_overrides, "database_url": url, "worker": "inprocess", "worker_poll_ms": 100}
    )
    db = get_db(app)
    with db.engine.begin() as conn:
        upgrade(conn)
    with db.transaction() as session:
        system, secret = admin.create_system(session, "inprocess-sender", "Enhed")
        for model in demo_models.values():
            admin.register_model(
                session, model.manifest, model.artifact, model.background_csv, system=system
            )
            admin.activate_model(session, model.name, model.version)
    worker = get_worker(app)
    assert worker is not None
    try:
        yield app, secret
    finally:
        worker.stop()
        db.engine.dispose()


def signed_post(app, secret: str, body: dict, webhook_id: str):
    data = json.dumps(body)
    response = app.test_client().post(
        "/api/v1/decisions",
        data=data.encode(),
        content_type="application/json",
        headers=signed_headers(secret, "inprocess-sender", webhook_id, data),
    )
    response.close()  # as a WSGI server does: runs the after-commit nudge
    return response


def worker_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "explanation-worker"}


def test_cli_commands_do_not_start_the_thread(inprocess, app_overrides):
    app, _ = inprocess
    # a fresh app on the same database, as `flask --app wsgi ...` would build
    cli_app = create_app(
        {
            **app_overrides,
            "database_url": str(get_db(app).engine.url.render_as_string(hide_password=False)),
            "worker": "inprocess",
        }
    )
    before = worker_threads()
    for args in (["db", "upgrade"], ["jobs", "retry", "--all-failed"], ["jobs", "run"]):
        result = cli_app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 0, result.output
    assert "0 job(s) processed" in result.output
    assert get_worker(cli_app)._thread is None
    assert worker_threads() == before
    get_db(cli_app).engine.dispose()


def test_the_thread_explains_a_posted_decision(inprocess, demo_bodies):
    app, secret = inprocess
    response = signed_post(app, secret, demo_bodies[0], "inprocess-1")
    assert response.status_code == 202, response.get_json()
    public_id = response.get_json()["id"]
    worker = get_worker(app)
    assert worker._thread is not None  # started by the request
    assert worker._thread.is_alive()

    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with get_db(app).transaction() as session:
            decision = session.scalar(select(Decision).where(Decision.public_id == public_id))
            if decision.status == "ready":
                job = session.scalar(select(Job).where(Job.decision_id == decision.id))
                assert job.status == "done"
                assert decision.explanation is not None
                assert decision.recomputed_output == pytest.approx(
                    demo_bodies[0]["model_output"], abs=1e-9
                )
                break
        time.sleep(0.1)
    else:
        pytest.fail(f"the in-process worker did not explain the decision in {WAIT_SECONDS} s")
    # one thread per process, however many requests
    thread = worker._thread
    assert signed_post(app, secret, demo_bodies[1], "inprocess-2").status_code == 202
    assert worker._thread is thread
