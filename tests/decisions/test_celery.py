"""Explanations on a real Celery worker process (Redis broker, a database of its own).

The web side is the app with ``worker="celery"``; the worker is ``celery -A
portal.decisions.tasks worker --pool=solo -c 1`` in a subprocess with the same ``PORTAL_*``
environment, so both open the same (committed) database and key ring. Covered: a decision
posted through the signed API is explained by the worker; with the broker down the POST is
still a quick 202 and the job waits undispatched until the sweeper sends it; a failing job
comes back through the sweeper with back-off, ends ``failed`` with its reason, and
``flask jobs retry`` brings it back. (The back-off arithmetic itself is tested in-process in
test_worker.py; here it is the Celery round trip: only the sweeper re-sends a retry.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from settings_support import environment
from sqlalchemy import select, update
from standardwebhooks import Webhook

from portal import create_app
from portal.db_session import get_db
from portal.decisions.models import Decision, Job
from portal.registry import admin

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
# A Redis database of this run's own (8-15): another run's worker on the same machine
# would otherwise take this run's tasks and explain them against its own database.
BROKER = f"redis://127.0.0.1:6379/{8 + os.getpid() % 8}"
WAIT_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, app_overrides, demo_models, demo_bodies, committed_database_url):
    """Migrated committed database, a sending system, both demo models active, a clean
    Redis db 5, and a running Celery worker subprocess."""
    import redis

    from portal.migrate import upgrade

    tmp = tmp_path_factory.mktemp("celery")
    redis.Redis.from_url(BROKER).flushdb()
    overrides = {
        **app_overrides,
        "database_url": committed_database_url("_celery"),
        "worker": "celery",
        "celery_broker_url": BROKER,
        "explanation_job_attempts": 2,
        "job_redispatch_seconds": 1,
    }
    app = create_app(overrides)
    db = get_db(app)
    with db.engine.begin() as conn:
        upgrade(conn)
    with db.transaction() as session:
        system, secret = admin.create_system(session, "celery-sender", "Enhed")
        for model in demo_models.values():
            admin.register_model(
                session, model.manifest, model.artifact, model.background_csv, system=system
            )
            admin.activate_model(session, model.name, model.version)

    env = environment(
        env="test",
        database_url=overrides["database_url"],
        encryption_key=overrides["encryption_key"],
        lookup_key=overrides["lookup_key"],
        secret_key=overrides["secret_key"],
        celery_broker_url=BROKER,
        job_backoff_seconds=1,
    )
    log_path = tmp / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "portal.decisions.tasks", "worker"),
                *("--pool=solo", "-c", "1", "--loglevel=INFO", "-n", f"test-{os.getpid()}@%h"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield {
            "app": app,
            "overrides": overrides,
            "secret": secret,
            "bodies": demo_bodies,
            "worker": worker,
            "log": log_path,
        }
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
        db.engine.dispose()


def post(app, secret: str, body: dict[str, Any], webhook_id: str) -> Any:
    data = json.dumps(body)
    now = dt.datetime.now(dt.UTC)
    headers = {
        "x-system": "celery-sender",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, data),
    }
    response = app.test_client().post(
        "/api/v1/decisions", data=data.encode(), content_type="application/json", headers=headers
    )
    # A WSGI server closes the response after sending it; that runs the after-commit nudge.
    response.close()
    return response


def state(app, public_id: str) -> tuple[str, str | None, Job]:
    with get_db(app).transaction() as session:
        decision = session.scalar(select(Decision).where(Decision.public_id == public_id))
        job = session.scalar(select(Job).where(Job.decision_id == decision.id))
        session.expunge(job)
        return decision.status, decision.status_reason, job


def wait_for(setup, public_id: str, status: str) -> Job:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        assert setup["worker"].poll() is None, setup["log"].read_text()[-3000:]
        current, _, job = state(setup["app"], public_id)
        if current == status:
            return job
        time.sleep(0.2)
    pytest.fail(f"decision not {status} in {WAIT_SECONDS} s\n{setup['log'].read_text()[-3000:]}")


def has_explanation(app, public_id: str) -> bool:
    with get_db(app).transaction() as session:
        decision = session.scalar(select(Decision).where(Decision.public_id == public_id))
        return decision.explanation is not None and decision.recomputed_output is not None


def sweep_cli(app) -> str:
    result = app.test_cli_runner().invoke(args=["jobs", "sweep"])
    assert result.exit_code == 0, result.output
    return result.output


def age_jobs(app, seconds: int) -> None:
    """Pretend the pending jobs were created ``seconds`` ago (past the sweeper's grace)."""
    with get_db(app).transaction() as session:
        earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
        session.execute(update(Job).where(Job.status == "pending").values(created_at=earlier))


def test_a_posted_decision_is_explained_by_the_celery_worker(setup):
    app = setup["app"]
    response = post(app, setup["secret"], setup["bodies"][0], "celery-1")
    assert response.status_code == 202, response.get_json()
    public_id = response.get_json()["id"]
    job = wait_for(setup, public_id, "ready")
    assert job.status == "done"
    assert job.dispatched_at is not None  # sent by the request's nudge, not by a sweep
    assert has_explanation(app, public_id)


def test_broker_down_still_answers_202_and_the_sweeper_dispatches_later(setup):
    down = create_app(
        {**setup["overrides"], "celery_broker_url": f"redis://127.0.0.1:{_free_port()}/5"}
    )
    started = time.monotonic()
    response = post(down, setup["secret"], setup["bodies"][1], "celery-2")
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.get_json()
    # Not a speed figure: a POST waiting on broker retries would take minutes.
    assert elapsed < 20, f"the POST took {elapsed:.1f} s with the broker down"
    public_id = response.get_json()["id"]
    time.sleep(1)  # the worker is running: nothing must reach it
    status, _, job = state(setup["app"], public_id)
    assert (status, job.status, job.dispatched_at) == ("pending", "pending", None)

    # Still down: the sweep sends nothing and marks nothing.
    age_jobs(down, 10)
    assert "dispatched 0 job(s)" in sweep_cli(down)
    assert state(setup["app"], public_id)[2].dispatched_at is None

    # The broker is back: the sweeper sends the job and the worker explains it.
    assert "dispatched 1 job(s)" in sweep_cli(setup["app"])
    job = wait_for(setup, public_id, "ready")
    assert job.status == "done"
    assert has_explanation(setup["app"], public_id)
    get_db(down).engine.dispose()


def test_a_failing_job_is_resent_by_the_sweeper_fails_and_can_be_retried(setup):
    app = setup["app"]
    down = create_app(
        {**setup["overrides"], "celery_broker_url": f"redis://127.0.0.1:{_free_port()}/5"}
    )
    body = setup["bodies"][2]
    response = post(down, setup["secret"], body, "celery-3")  # not dispatched yet
    assert response.status_code == 202
    public_id = response.get_json()["id"]
    # break the stored row behind the API's back, so every attempt fails in the worker
    with get_db(app).transaction() as session:
        row = session.scalar(select(Decision).where(Decision.public_id == public_id))
        row.features = {"nonsense": 1}
    age_jobs(app, 10)

    assert "dispatched 1 job(s)" in sweep_cli(app)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:  # attempt 1 fails; the job waits for its back-off
        _, _, job = state(app, public_id)
        if job.attempts == 1 and job.status == "pending":
            break
        time.sleep(0.2)
    assert (job.attempts, job.status) == (1, "pending")
    assert job.last_error.startswith("invalid-row")
    assert job.next_attempt_at > job.dispatched_at  # backed off

    # Only the sweeper re-sends a retry: once it is due and its dispatch is old.
    time.sleep(1.5)
    assert "dispatched 1 job(s)" in sweep_cli(app)
    job = wait_for(setup, public_id, "failed")
    _, reason, job = state(app, public_id)
    assert (job.status, job.attempts) == ("failed", 2)
    assert reason.startswith("invalid-row")
    time.sleep(1.5)
    assert "dispatched 0 job(s)" in sweep_cli(app)  # a failed job is not re-sent

    with get_db(app).transaction() as session:
        row = session.scalar(select(Decision).where(Decision.public_id == public_id))
        row.features = body["features"]
    result = app.test_cli_runner().invoke(args=["jobs", "retry", "--decision", public_id])
    assert result.exit_code == 0, result.output
    assert "1 job(s) will be retried" in result.output
    assert state(app, public_id)[:2] == ("pending", None)
    age_jobs(app, 10)
    assert "dispatched 1 job(s)" in sweep_cli(app)
    wait_for(setup, public_id, "ready")
    assert has_explanation(app, public_id)
    get_db(down).engine.dispose()
