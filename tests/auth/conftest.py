"""Fixtures for the login and session tests: an app with a few probe routes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from auth_support import make_probe_app
from db_support import rolled_back
from flask import Flask
from flask.testing import FlaskClient

from portal.db_session import get_db


@pytest.fixture(scope="session")
def probe_app(app: Flask, app_overrides: dict[str, Any]) -> Iterator[Flask]:
    # Depends on ``app`` so the migrated database exists.
    probe = make_probe_app(app_overrides)
    yield probe
    get_db(probe).engine.dispose()


@pytest.fixture
def probe_client(probe_app: Flask) -> Iterator[FlaskClient]:
    with rolled_back(probe_app):
        yield probe_app.test_client()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return "redis://127.0.0.1:6379/7"


@pytest.fixture
def redis_probe_app(app: Flask, app_overrides: dict[str, Any], redis_url: str) -> Iterator[Flask]:
    prefix = f"test:{secrets.token_hex(4)}:"
    probe = make_probe_app(
        {
            **app_overrides,
            "session_backend": "redis",
            "redis_url": redis_url,
            "session_redis_prefix": prefix,
        }
    )
    with rolled_back(probe):
        yield probe
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    get_db(probe).engine.dispose()
