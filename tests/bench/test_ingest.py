"""The ingest benchmark's anchor and bound apps answer as the bench expects.

The bench prints ratios against these apps (``bench/apps``); an app that failed on every
request (say the minimum app after a change of the portal's services) would print a
meaningless bound. Each app is loaded fresh from its module with the environment the
bench gives it, and driven with the bench's signed requests.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench.load import presign, sign
from portal import crypto
from portal.db_session import get_db
from tests.factories_cases import NOW, demo_models

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> Any:
    return _load("bench_ingest_under_test", ROOT / "bench" / "ingest.py")


@pytest.fixture
def prepared(bench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A migrated SQLite copy of the portal's schema with the bench's system and the demo
    models, the environment the bench gives its anchor apps, and the bench's bodies."""
    from portal.demo import demo_citizens, demo_decisions

    models = list(demo_models())
    # The bench builds a portal app, which installs its key ring: the tests' one comes back.
    monkeypatch.setattr(crypto, "_active_ring", crypto._active_ring)
    url = f"sqlite:///{tmp_path / 'minimum.db'}"
    app, secret = bench.prepare_database(url, models)
    get_db(app).engine.dispose()
    for name, value in bench.anchor_environment(secret, tmp_path / "floor.db", url).items():
        monkeypatch.setenv(name, value)
    bodies = demo_decisions(models, demo_citizens(), now=NOW)
    return secret, bodies


@pytest.fixture
def load_app() -> Iterator[Any]:
    """Load ``bench/apps/<name>.py`` afresh (it reads its environment when imported)."""
    loaded: list[ModuleType] = []

    def load(name: str) -> Any:
        module = _load(f"bench_app_{name}_under_test", ROOT / "bench" / "apps" / f"{name}.py")
        loaded.append(module)
        return module.app

    yield load
    for module in loaded:
        database = getattr(module, "_database", None)
        if database is not None:
            database.engine.dispose()


def _post(client: Any, request: tuple[bytes, dict[str, str]]) -> Any:
    body, headers = request
    return client.post("/api/v1/decisions", data=body, headers=headers)


def _count(database: Path, table: str) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_minimum_app_stores_delivery_decision_and_job_once(bench, prepared, tmp_path, load_app):
    secret, bodies = prepared
    client = load_app("minimum").test_client()
    first, second = presign(secret, bodies, 2, "minimum").items

    accepted = _post(client, first)
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    assert accepted.get_json()["status"] == "pending"
    assert _post(client, second).status_code == 202
    assert _post(client, first).status_code == 200  # the same webhook-id again

    database = tmp_path / "minimum.db"
    assert [_count(database, t) for t in ("delivery", "decision", "job")] == [2, 2, 2]
    with sqlite3.connect(database) as db:
        stored = db.execute("SELECT features, subject_cpr FROM decision").fetchall()
    cpr = bodies[0]["subject"]["cpr"].replace("-", "").encode()
    assert all(cpr not in features and cpr not in subject for features, subject in stored)


def test_minimum_app_refuses_a_bad_signature_and_an_invalid_body(
    bench, prepared, tmp_path, load_app
):
    secret, bodies = prepared
    client = load_app("minimum").test_client()
    (body, headers), (invalid_body, invalid_headers) = presign(
        secret, [bodies[0], {**bodies[0], "features": {}}], 2, "bad"
    ).items

    forged = {**headers, "webhook-signature": "v1,AAAA"}
    assert client.post("/api/v1/decisions", data=body, headers=forged).status_code == 401
    # correctly signed, but an hour old: the portal's tolerance check refuses it
    old = int(headers["webhook-timestamp"]) - 3600
    stale = {
        **headers,
        "webhook-timestamp": str(old),
        "webhook-signature": sign(secret, headers["webhook-id"], old, body),
    }
    assert client.post("/api/v1/decisions", data=body, headers=stale).status_code == 401
    response = client.post("/api/v1/decisions", data=invalid_body, headers=invalid_headers)
    assert response.status_code == 422
    assert _count(tmp_path / "minimum.db", "decision") == 0


@pytest.mark.parametrize("name", ["bare", "floor"])
def test_anchor_apps_accept_the_bench_requests(bench, prepared, load_app, name):
    secret, bodies = prepared
    client = load_app(name).test_client()
    accepted = _post(client, presign(secret, bodies, 1, "anchor").items[0])
    assert accepted.status_code == 202
    assert accepted.get_json()["status"] == "pending"
