"""Webhooks are not held up by page views: a page view holds no lock while it reads
(SQLite) and no transaction at all while it renders (both databases), and many page
views writing their audit events at once all succeed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import flask
import pytest
from api_support import Sender, SignedClient, decision_body
from sqlalchemy import create_engine, func, select, text
from test_api_committed import committed  # noqa: F401  (the committed sender and model)

from portal.auth.principal import Principal, principal_session_data
from portal.auth.sessions import session_interface
from portal.crypto import lookup_key
from portal.db_session import get_db
from portal.oversight.models import AuditEvent

TEST_LOOKUP_KEY = "test-lookup-key-0123456789abcdefghijklmnop"  # as tests/conftest.py
#: Far below the 10 s busy timeout (and the indefinite wait for a lock held by a renderer).
BOUND_SECONDS = 5


@pytest.fixture
def world(committed_app, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The committed sender and model (emptied afterwards), one decision of the test
    citizen, and a logged-in session cookie of that citizen."""
    sender: Sender = request.getfixturevalue("committed")
    answer = SignedClient(committed_app.test_client(), sender).post(
        "/api/v1/decisions", decision_body(), webhook_id="render-0"
    )
    assert answer.status_code == 202
    subject_key = lookup_key(TEST_LOOKUP_KEY, decision_body()["subject"]["cpr"])
    principal = Principal("citizen", subject_key, None, None, "citizen", None, "")
    interface = session_interface(committed_app)
    token = interface.create({"principal": principal_session_data(principal)})
    return {"sender": sender, "case": answer.get_json()["id"], "cookie": token}


def citizen(app: flask.Flask, world: dict[str, Any]) -> Any:
    client = app.test_client()
    client.set_cookie(session_interface(app).cookie_name, world["cookie"])
    return client


def post_webhook(app: flask.Flask, world: dict[str, Any], webhook_id: str) -> tuple[int, float]:
    """Post a new decision; (status, seconds), or (0, inf) if it did not return in time."""
    result: list[tuple[int, float]] = []

    def post() -> None:
        started = time.monotonic()
        body = decision_body()
        body["features"]["forloeb"] = len(webhook_id) % 20
        answer = SignedClient(app.test_client(), world["sender"]).post(
            "/api/v1/decisions", body, webhook_id=webhook_id
        )
        result.append((answer.status_code, time.monotonic() - started))

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    thread.join(BOUND_SECONDS)
    return result[0] if result else (0, float("inf"))


def open_transactions(app: flask.Flask) -> int:
    """Connections of the app's database that are idle in a transaction (PostgreSQL)."""
    url = get_db(app).engine.url
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :db"
                        " AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
                    ),
                    {"db": url.database},
                )
            )
    finally:
        engine.dispose()


def blocking(
    monkeypatch: pytest.MonkeyPatch, target: Any, name: str, probe: Callable[[], Any]
) -> tuple[threading.Event, threading.Event, dict[str, Any]]:
    """Make ``target.name`` wait (after ``probe()``) until released."""
    real = getattr(target, name)
    reached, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def wait(*args: Any, **kwargs: Any) -> Any:
        seen.update(probe())
        reached.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, wait)
    return reached, release, seen


def webhook_while_paused(
    app: flask.Flask, world: dict[str, Any], path: str, release: threading.Event, reached
) -> Any:
    """GET ``path`` as the citizen; once it is paused (``reached``), post a webhook, which
    must be stored within the bound; then let the page go on. Returns the page's answer."""
    client = citizen(app, world)
    answers: list[Any] = []
    page = threading.Thread(target=lambda: answers.append(client.get(path)), daemon=True)
    page.start()
    try:
        assert reached.wait(30)
        status, seconds = post_webhook(app, world, f"during-{path}")
    finally:
        release.set()
        page.join(60)
    assert status == 202
    assert seconds < BOUND_SECONDS
    assert answers[0].status_code == 200
    return answers[0]


def test_a_webhook_is_stored_while_a_pdf_renders(committed_app, world, monkeypatch) -> None:
    import portal.cases.views as views

    postgres = get_db(committed_app).engine.dialect.name == "postgresql"

    def probe() -> dict[str, Any]:
        state = {
            "session": "db_session" in flask.g,
            "checked_out": get_db(committed_app).engine.pool.checkedout(),
        }
        if postgres:
            state["idle_in_transaction"] = open_transactions(committed_app)
        return state

    reached, release, seen = blocking(monkeypatch, views, "render_pdf", probe)
    path = f"/mine-sager/{world['case']}/pdf"
    pdf = webhook_while_paused(committed_app, world, path, release, reached)
    assert pdf.data.startswith(b"%PDF-")
    # while the PDF rendered, its request had no session and no connection ...
    assert seen["session"] is False
    assert seen["checked_out"] == 0
    if postgres:  # ... and the database saw no transaction left open
        assert seen["idle_in_transaction"] == 0


def test_a_page_views_open_read_does_not_hold_up_a_webhook(
    committed_app, world, monkeypatch
) -> None:
    """The page view has read (its transaction is open), a webhook commits meanwhile, then
    the page view appends its audit event: on SQLite that must not hit the stale snapshot."""
    import portal.cases.views as views

    reached, release, _ = blocking(monkeypatch, views, "present_case", dict)
    with get_db(committed_app).transaction() as session:
        before = session.scalar(select(func.count()).select_from(AuditEvent))
    webhook_while_paused(committed_app, world, f"/mine-sager/{world['case']}", release, reached)
    with get_db(committed_app).transaction() as session:
        after = session.scalar(select(func.count()).select_from(AuditEvent))
    assert after == before + 2  # the webhook's decision.received and the page's view


def test_many_page_views_and_webhooks_at_once_all_succeed(committed_app, world) -> None:
    views, rounds, senders = 6, 10, 2
    barrier = threading.Barrier(views + senders)
    statuses: list[int] = []
    with get_db(committed_app).transaction() as session:
        before = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "decision.viewed")
        )

    def view() -> None:
        client = citizen(committed_app, world)
        barrier.wait()
        for _ in range(rounds):
            statuses.append(client.get(f"/mine-sager/{world['case']}").status_code)

    def send(n: int) -> None:
        client = SignedClient(committed_app.test_client(), world["sender"])
        barrier.wait()
        for i in range(rounds // 2):
            body = decision_body()
            body["features"]["forloeb"] = i
            answer = client.post("/api/v1/decisions", body, webhook_id=f"many-{n}-{i}")
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=view) for _ in range(views)]
    threads += [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(statuses) == [200] * (views * rounds) + [202] * (senders * rounds // 2)
    with get_db(committed_app).transaction() as session:
        after = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "decision.viewed")
        )
    assert after == before + views * rounds
