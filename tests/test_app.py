"""The app factory, configuration validation and the embedded defaults."""

from __future__ import annotations

import pytest
from settings_support import production_settings
from sqlalchemy import text

from portal import create_app
from portal.config import ConfigError, Settings
from portal.db_session import get_db


def test_production_with_strong_settings_is_accepted() -> None:
    production_settings().validate()


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"secret_key": ""}, "PORTAL_SECRET_KEY"),
        ({"secret_key": "short"}, "PORTAL_SECRET_KEY"),
        ({"pdf_worker_decisions": -1}, "PORTAL_PDF_WORKER_DECISIONS"),
        ({"pdf_export_hours": 0}, "PORTAL_PDF_EXPORT_HOURS"),
        ({"pdf_export_hours": 169}, "PORTAL_PDF_EXPORT_HOURS"),
        ({"secret_key": "changeme"}, "PORTAL_SECRET_KEY"),
        ({"encryption_key": ""}, "PORTAL_ENCRYPTION_KEY is missing"),
        ({"encryption_key": "bm90IDMyIGJ5dGVz"}, "not 32 bytes"),
        ({"lookup_key": ""}, "PORTAL_LOOKUP_KEY"),
        ({"audit_checkpoint_key": ""}, "PORTAL_AUDIT_CHECKPOINT_KEY"),
        ({"audit_checkpoint_key": "short"}, "PORTAL_AUDIT_CHECKPOINT_KEY"),
        ({"demo": True}, "PORTAL_DEMO"),
        ({"base_url": "http://forklaring.kk.dk"}, "https"),
    ],
)
def test_production_refuses_unsafe_settings(overrides: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        production_settings(**overrides).validate()
    assert any(problem in p for p in excinfo.value.problems)


def test_production_refuses_development_keys() -> None:
    dev = Settings.load(environ={})
    with pytest.raises(ConfigError):
        production_settings(secret_key=dev.secret_key, encryption_key=dev.encryption_key).validate()


def test_create_app_refuses_to_start_in_production_with_demo_login() -> None:
    with pytest.raises(ConfigError):
        create_app({"env": "production", "demo": True})


def test_environment_variables_are_read_and_overrides_win() -> None:
    environ = {
        "PORTAL_MUNICIPALITY": "Aarhus Kommune",
        "PORTAL_DEMO": "true",
        "PORTAL_SESSION_IDLE_MINUTES": "15",
        "PORTAL_CITIZEN_OIDC_ISSUER": "https://idp.example",
        "PORTAL_CITIZEN_OIDC_ACR_VALUES": "substantial high",
    }
    settings = Settings.load(environ=environ, overrides={"session_idle_minutes": 20})
    assert settings.municipality == "Aarhus Kommune"
    assert settings.demo is True
    assert settings.session_idle_minutes == 20
    assert settings.citizen_oidc.issuer == "https://idp.example"
    assert settings.citizen_oidc.acr_values == ("substantial", "high")


def test_embedded_default_is_sqlite_in_wal_mode_with_full_sync(app) -> None:
    with get_db(app).engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            pytest.skip("SQLite-specific pragmas")
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_default_database_lives_in_instance_folder() -> None:
    settings = Settings.load(environ={})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("instance/portal.db")


@pytest.mark.parametrize(
    ("hops", "address", "scheme"), [(0, "10.0.0.2", "http"), (1, "203.0.113.9", "https")]
)
def test_forwarded_headers_are_believed_only_behind_the_configured_proxies(
    app_overrides: dict[str, object], hops: int, address: str, scheme: str
) -> None:
    proxied = create_app({**app_overrides, "trusted_proxies": hops})

    @proxied.get("/_test/client")
    def client_seen() -> dict[str, str]:
        from flask import request

        return {"address": str(request.remote_addr), "scheme": request.scheme}

    answer = proxied.test_client().get(
        "/_test/client",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    get_db(proxied).engine.dispose()
    assert answer.get_json() == {"address": address, "scheme": scheme}
